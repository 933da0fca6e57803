import { Result, Schema } from "effect"
import { Difficulty, fromUnknown, ProofScore, Timestamp, compiledMake } from "./common.ts"
import type { Decider } from "./Decider.ts"
import {
  type BlockNotFound,
  type BlockNotStarted,
  blockNotFound,
  blockNotStarted,
  type InvalidInput,
  type InvalidTransition,
  invalidInput,
  invalidTransition,
  TaskAlreadyExists,
  type TaskNotFound,
  taskNotFound
} from "./errors.ts"
import { BlockId, TaskId, UserId } from "./ids.ts"
import {
  BlockMinutes,
  type BlockPay,
  heuristicBreakdown,
  MAX_BLOCKS_PER_TASK,
  payForBlock,
  TaskDuration
} from "./rules.ts"

/**
 * A task and its focus blocks: one aggregate, so "the task completes when its last block does" is
 * decided atomically with that block's completion.
 *
 * Block:  pending → in_progress → completed (each move once; nothing leaves `completed`).
 * Task:   pending → in_progress (first block started) → completed (all blocks completed); a deleted
 *         task is gone: every later command sees "not found", and its id is never reused.
 *
 * Every command names the user; a task owned by someone else answers exactly like a missing one.
 */

export const Title = Schema.String.check(
  Schema.isTrimmed(),
  Schema.isMinLength(1),
  Schema.isMaxLength(200)
).annotate({ identifier: "Title" })
export const Description = Schema.String.check(Schema.isMaxLength(5000)).annotate({
  identifier: "Description"
})
export const ProofText = Schema.String.check(Schema.isMaxLength(5000)).annotate({ identifier: "ProofText" })
/** How hard the block felt to the user, 1 (effortless) to 10 (exhausting). */
export const EffortRating = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 })).annotate({
  identifier: "EffortRating"
})

export const BlockStatus = Schema.Literals(["pending", "in_progress", "completed"])
export type BlockStatus = typeof BlockStatus.Type
export const TaskStatus = Schema.Literals(["pending", "in_progress", "completed"])
export type TaskStatus = typeof TaskStatus.Type

/** One block as a breakdown proposes it: the command carries the plan, the decider checks it. */
export const BlockPlan = Schema.Struct({
  block_id: BlockId,
  title: Title,
  duration_minutes: BlockMinutes
}).annotate({ identifier: "BlockPlan" })
export type BlockPlan = typeof BlockPlan.Type

const BlockPlans = Schema.Array(BlockPlan).check(
  Schema.isMinLength(1),
  Schema.isMaxLength(MAX_BLOCKS_PER_TASK)
)

export const Block = Schema.Struct({
  id: BlockId,
  task_id: TaskId,
  position: Schema.Int,
  title: Schema.String,
  duration_minutes: Schema.Int,
  status: BlockStatus,
  started_at: Schema.NullOr(Timestamp),
  completed_at: Schema.NullOr(Timestamp),
  tokens_earned: Schema.NullOr(Schema.Int),
  proof_text: Schema.NullOr(Schema.String),
  proof_score: Schema.NullOr(ProofScore),
  effort_rating: Schema.NullOr(Schema.Int)
}).annotate({ identifier: "Block" })
export type Block = typeof Block.Type

export const Task = Schema.Struct({
  id: TaskId,
  user_id: UserId,
  title: Schema.String,
  description: Schema.String,
  duration_minutes: Schema.Int,
  difficulty: Difficulty,
  status: TaskStatus,
  blocks: Schema.Array(Block),
  tokens_earned: Schema.Int,
  created_at: Timestamp,
  updated_at: Timestamp,
  completed_at: Schema.NullOr(Timestamp)
}).annotate({ identifier: "Task" })
export type Task = typeof Task.Type

/** Block plans from the heuristic breakdown, for when no breakdown chain is available. */
export const heuristicBlockPlans = (
  title: string,
  durationMinutes: number,
  newBlockId: (index: number) => BlockId
): ReadonlyArray<BlockPlan> => {
  const minutes = heuristicBreakdown(durationMinutes)
  const name = title.trim().slice(0, 170).trim() || "Focus"
  return minutes.map((duration_minutes, i) => ({
    block_id: newBlockId(i),
    title: `${name} — block ${i + 1}/${minutes.length}`,
    duration_minutes
  }))
}

// ---------------------------------------------------------------------------------------------
// Commands

const Owned = { task_id: TaskId, user_id: UserId }

export const CreateTask = compiledMake(
  Schema.TaggedStruct("CreateTask", {
    ...Owned,
    title: Title,
    description: Description,
    duration_minutes: TaskDuration,
    difficulty: Difficulty,
    blocks: BlockPlans,
    at: Timestamp
  })
)
export type CreateTask = typeof CreateTask.Type

/**
 * Title and description can change at any time until deletion. Difficulty and duration change what
 * blocks are worth and how they are cut, so they change only while no block has started; a new
 * duration comes with the new block plan for it.
 */
export const UpdateTask = compiledMake(
  Schema.TaggedStruct("UpdateTask", {
    ...Owned,
    title: Schema.optionalKey(Title),
    description: Schema.optionalKey(Description),
    difficulty: Schema.optionalKey(Difficulty),
    replan: Schema.optionalKey(Schema.Struct({ duration_minutes: TaskDuration, blocks: BlockPlans })),
    at: Timestamp
  })
)
export type UpdateTask = typeof UpdateTask.Type

export const DeleteTask = compiledMake(Schema.TaggedStruct("DeleteTask", { ...Owned, at: Timestamp }))
export type DeleteTask = typeof DeleteTask.Type

export const StartBlock = compiledMake(
  Schema.TaggedStruct("StartBlock", { ...Owned, block_id: BlockId, at: Timestamp })
)
export type StartBlock = typeof StartBlock.Type

/**
 * `proof_score` is the proof validation's verdict on `proof_text`, computed before the command: 0 for a
 * proof judged invalid. It only ever adds a bonus to the pay (see `payForBlock`).
 */
export const CompleteBlock = compiledMake(
  Schema.TaggedStruct("CompleteBlock", {
    ...Owned,
    block_id: BlockId,
    proof_text: Schema.optionalKey(ProofText),
    proof_score: Schema.optionalKey(ProofScore),
    effort_rating: Schema.optionalKey(EffortRating),
    at: Timestamp
  })
)
export type CompleteBlock = typeof CompleteBlock.Type

export const TaskCommand = Schema.Union([CreateTask, UpdateTask, DeleteTask, StartBlock, CompleteBlock])
export type TaskCommand = typeof TaskCommand.Type

// ---------------------------------------------------------------------------------------------
// Events (each names its task and owner, so projections need no lookup)

export const TaskCreated = compiledMake(
  Schema.TaggedStruct("TaskCreated", {
    ...Owned,
    title: Schema.String,
    description: Schema.String,
    duration_minutes: Schema.Int,
    difficulty: Difficulty,
    blocks: Schema.Array(BlockPlan),
    at: Timestamp
  })
)
export type TaskCreated = typeof TaskCreated.Type

export const TaskUpdated = compiledMake(
  Schema.TaggedStruct("TaskUpdated", {
    ...Owned,
    title: Schema.optionalKey(Schema.String),
    description: Schema.optionalKey(Schema.String),
    difficulty: Schema.optionalKey(Difficulty),
    at: Timestamp
  })
)
export type TaskUpdated = typeof TaskUpdated.Type

export const TaskReplanned = compiledMake(
  Schema.TaggedStruct("TaskReplanned", {
    ...Owned,
    duration_minutes: Schema.Int,
    blocks: Schema.Array(BlockPlan),
    at: Timestamp
  })
)
export type TaskReplanned = typeof TaskReplanned.Type

export const TaskDeleted = compiledMake(Schema.TaggedStruct("TaskDeleted", { ...Owned, at: Timestamp }))
export type TaskDeleted = typeof TaskDeleted.Type

export const BlockStarted = compiledMake(
  Schema.TaggedStruct("BlockStarted", {
    ...Owned,
    block_id: BlockId,
    at: Timestamp
  })
)
export type BlockStarted = typeof BlockStarted.Type

/**
 * Carries what the wallet needs to credit the block (minutes, difficulty, start, proof score) so a
 * process reading the event log can drive `CreditBlock` at least once; the wallet pays each block once.
 * `started_at` (with `at`, the server's time of completion) is what the pay is measured by; it is absent
 * only in completions recorded before the pay rule, which were paid by the legacy rule.
 */
export const BlockCompleted = compiledMake(
  Schema.TaggedStruct("BlockCompleted", {
    ...Owned,
    block_id: BlockId,
    duration_minutes: Schema.Int,
    difficulty: Difficulty,
    started_at: Schema.optionalKey(Timestamp),
    proof_text: Schema.optionalKey(Schema.String),
    proof_score: Schema.optionalKey(ProofScore),
    effort_rating: Schema.optionalKey(Schema.Int),
    tokens_earned: Schema.Int,
    at: Timestamp
  })
)
export type BlockCompleted = typeof BlockCompleted.Type

export const TaskCompleted = compiledMake(Schema.TaggedStruct("TaskCompleted", { ...Owned, at: Timestamp }))
export type TaskCompleted = typeof TaskCompleted.Type

export const TaskEvent = Schema.Union([
  TaskCreated,
  TaskUpdated,
  TaskReplanned,
  TaskDeleted,
  BlockStarted,
  BlockCompleted,
  TaskCompleted
])
export type TaskEvent = typeof TaskEvent.Type

export type TaskError =
  | TaskNotFound
  | TaskAlreadyExists
  | BlockNotFound
  | BlockNotStarted
  | InvalidTransition
  | InvalidInput

// ---------------------------------------------------------------------------------------------
// State: `task` is null before creation; `deleted` stays true after deletion so the id is never reused.

export const TaskState = Schema.Struct({
  task: Schema.NullOr(Task),
  deleted: Schema.Boolean
}).annotate({ identifier: "TaskState" })
export type TaskState = typeof TaskState.Type

export const initialTaskState: TaskState = { task: null, deleted: false }

const blocksFrom = (task_id: TaskId, plans: ReadonlyArray<BlockPlan>): ReadonlyArray<Block> =>
  plans.map((plan, position) => ({
    id: plan.block_id,
    task_id,
    position,
    title: plan.title,
    duration_minutes: plan.duration_minutes,
    status: "pending",
    started_at: null,
    completed_at: null,
    tokens_earned: null,
    proof_text: null,
    proof_score: null,
    effort_rating: null
  }))

const updateBlock = (task: Task, blockId: BlockId, f: (block: Block) => Block): Task => ({
  ...task,
  blocks: task.blocks.map((b) => (b.id === blockId ? f(b) : b))
})

const evolveTask = (task: Task, event: TaskEvent): Task => {
  switch (event._tag) {
    case "TaskCreated":
    case "TaskDeleted":
      return task
    case "TaskUpdated":
      return {
        ...task,
        ...(event.title === undefined ? {} : { title: event.title }),
        ...(event.description === undefined ? {} : { description: event.description }),
        ...(event.difficulty === undefined ? {} : { difficulty: event.difficulty }),
        updated_at: event.at
      }
    case "TaskReplanned":
      return {
        ...task,
        duration_minutes: event.duration_minutes,
        blocks: blocksFrom(task.id, event.blocks),
        updated_at: event.at
      }
    case "BlockStarted":
      return {
        ...updateBlock(task, event.block_id, (b) => ({ ...b, status: "in_progress", started_at: event.at })),
        status: task.status === "pending" ? "in_progress" : task.status,
        updated_at: event.at
      }
    case "BlockCompleted":
      return {
        ...updateBlock(task, event.block_id, (b) => ({
          ...b,
          status: "completed",
          completed_at: event.at,
          tokens_earned: event.tokens_earned,
          proof_text: event.proof_text ?? null,
          proof_score: event.proof_score ?? null,
          effort_rating: event.effort_rating ?? null
        })),
        tokens_earned: task.tokens_earned + event.tokens_earned,
        updated_at: event.at
      }
    case "TaskCompleted":
      return { ...task, status: "completed", completed_at: event.at, updated_at: event.at }
  }
}

export const evolveTaskState = (state: TaskState, event: TaskEvent): TaskState => {
  if (event._tag === "TaskCreated") {
    return {
      deleted: false,
      task: {
        id: event.task_id,
        user_id: event.user_id,
        title: event.title,
        description: event.description,
        duration_minutes: event.duration_minutes,
        difficulty: event.difficulty,
        status: "pending",
        blocks: blocksFrom(event.task_id, event.blocks),
        tokens_earned: 0,
        created_at: event.at,
        updated_at: event.at,
        completed_at: null
      }
    }
  }
  if (event._tag === "TaskDeleted") return { task: null, deleted: true }
  return state.task === null ? state : { ...state, task: evolveTask(state.task, event) }
}

// ---------------------------------------------------------------------------------------------
// Decide

const checkPlan = (
  plans: ReadonlyArray<BlockPlan>
): Result.Result<ReadonlyArray<BlockPlan>, InvalidInput> => {
  const ids = new Set(plans.map((p) => p.block_id))
  if (ids.size !== plans.length) return Result.fail(invalidInput("blocks", "Block ids must be unique"))
  if (plans.length === 0 || plans.length > MAX_BLOCKS_PER_TASK) {
    return Result.fail(invalidInput("blocks", `A task has 1 to ${MAX_BLOCKS_PER_TASK} blocks`))
  }
  return Result.succeed(plans)
}

const ownedTask = (state: TaskState, command: { task_id: TaskId; user_id: UserId }) =>
  state.task !== null && state.task.id === command.task_id && state.task.user_id === command.user_id
    ? Result.succeed(state.task)
    : Result.fail(taskNotFound(command.task_id))

const findBlock = (task: Task, blockId: BlockId): Result.Result<Block, BlockNotFound> => {
  const block = task.blocks.find((b) => b.id === blockId)
  return block === undefined ? Result.fail(blockNotFound(task.id, blockId)) : Result.succeed(block)
}

const decideCreate = (
  state: TaskState,
  c: CreateTask
): Result.Result<ReadonlyArray<TaskEvent>, TaskError> => {
  if (state.task !== null || state.deleted) {
    return Result.fail(
      new TaskAlreadyExists({ message: `Task ${c.task_id} already exists`, details: { task_id: c.task_id } })
    )
  }
  return checkPlan(c.blocks).pipe(
    Result.map((blocks) => [
      TaskCreated.make({
        task_id: c.task_id,
        user_id: c.user_id,
        title: c.title,
        description: c.description,
        duration_minutes: c.duration_minutes,
        difficulty: c.difficulty,
        blocks,
        at: c.at
      })
    ])
  )
}

const decideUpdate = (task: Task, c: UpdateTask): Result.Result<ReadonlyArray<TaskEvent>, TaskError> => {
  const reshapes = c.difficulty !== undefined || c.replan !== undefined
  if (reshapes && task.blocks.some((b) => b.status !== "pending")) {
    return Result.fail(invalidTransition("task", task.status, "change the difficulty or duration of"))
  }
  const events: Array<TaskEvent> = []
  if (c.title !== undefined || c.description !== undefined || c.difficulty !== undefined) {
    events.push(
      TaskUpdated.make({
        task_id: c.task_id,
        user_id: c.user_id,
        ...(c.title === undefined ? {} : { title: c.title }),
        ...(c.description === undefined ? {} : { description: c.description }),
        ...(c.difficulty === undefined ? {} : { difficulty: c.difficulty }),
        at: c.at
      })
    )
  }
  if (c.replan === undefined) return Result.succeed(events)
  const { duration_minutes } = c.replan
  return checkPlan(c.replan.blocks).pipe(
    Result.map((blocks) => [
      ...events,
      TaskReplanned.make({ task_id: c.task_id, user_id: c.user_id, duration_minutes, blocks, at: c.at })
    ])
  )
}

const decideStart = (task: Task, c: StartBlock): Result.Result<ReadonlyArray<TaskEvent>, TaskError> =>
  Result.flatMap(findBlock(task, c.block_id), (block) => {
    if (block.status !== "pending") return Result.fail(invalidTransition("block", block.status, "start"))
    // One block at a time: a focus block is undivided attention.
    if (task.blocks.some((b) => b.status === "in_progress")) {
      return Result.fail(invalidTransition("block", "pending", "start, while another block is in progress,"))
    }
    return Result.succeed([
      BlockStarted.make({ task_id: c.task_id, user_id: c.user_id, block_id: c.block_id, at: c.at })
    ])
  })

/** Time from the block's start to `at`, by the server's clock; a block never started has spent none. */
export const elapsedMs = (startedAt: Date | null | undefined, at: Date): number =>
  startedAt === null || startedAt === undefined ? 0 : Math.max(0, at.getTime() - startedAt.getTime())

/**
 * The pay a recorded completion earned, recomputed from its facts by the pay rule (the wallet pays by
 * the same rule, so the two never disagree). `null` for a completion recorded before the rule.
 */
export const payOfCompletion = (event: BlockCompleted): BlockPay | null => {
  if (event.started_at === undefined) return null
  const { tokens: _total, ...pay } = payForBlock({
    minutes: event.duration_minutes,
    difficulty: event.difficulty,
    elapsed_ms: elapsedMs(event.started_at, event.at),
    proof_score: event.proof_score
  })
  return pay
}

/**
 * Completion pays for the focus actually spent: the block must have been started (its start is what
 * the pay is measured from), and the tokens come from server time, never from the request.
 */
const decideComplete = (task: Task, c: CompleteBlock): Result.Result<ReadonlyArray<TaskEvent>, TaskError> =>
  Result.flatMap(findBlock(task, c.block_id), (block): Result.Result<ReadonlyArray<TaskEvent>, TaskError> => {
    if (block.status === "pending") return Result.fail(blockNotStarted(task.id, block.id))
    if (block.status !== "in_progress" || block.started_at === null)
      return Result.fail(invalidTransition("block", block.status, "complete"))
    const pay = payForBlock({
      minutes: block.duration_minutes,
      difficulty: task.difficulty,
      elapsed_ms: elapsedMs(block.started_at, c.at),
      proof_score: c.proof_score
    })
    const completed = BlockCompleted.make({
      task_id: c.task_id,
      user_id: c.user_id,
      block_id: c.block_id,
      duration_minutes: block.duration_minutes,
      difficulty: task.difficulty,
      started_at: block.started_at,
      ...(c.proof_text === undefined ? {} : { proof_text: c.proof_text }),
      ...(c.proof_score === undefined ? {} : { proof_score: c.proof_score }),
      ...(c.effort_rating === undefined ? {} : { effort_rating: c.effort_rating }),
      tokens_earned: pay.tokens,
      at: c.at
    })
    const lastOne = task.blocks.every((b) => b.id === c.block_id || b.status === "completed")
    return Result.succeed(
      lastOne
        ? [completed, TaskCompleted.make({ task_id: c.task_id, user_id: c.user_id, at: c.at })]
        : [completed]
    )
  })

export const decideTask = (
  state: TaskState,
  command: TaskCommand
): Result.Result<ReadonlyArray<TaskEvent>, TaskError> => {
  if (command._tag === "CreateTask") return decideCreate(state, command)
  return Result.flatMap(
    ownedTask(state, command),
    (task): Result.Result<ReadonlyArray<TaskEvent>, TaskError> => {
      switch (command._tag) {
        case "UpdateTask":
          return decideUpdate(task, command)
        case "DeleteTask":
          return Result.succeed([
            TaskDeleted.make({ task_id: command.task_id, user_id: command.user_id, at: command.at })
          ])
        case "StartBlock":
          return decideStart(task, command)
        case "CompleteBlock":
          return decideComplete(task, command)
      }
    }
  )
}

export const TaskDecider: Decider<TaskState, TaskCommand, TaskEvent, TaskError> = {
  type: "task",
  initialState: initialTaskState,
  decide: decideTask,
  evolve: evolveTaskState,
  event: fromUnknown(TaskEvent),
  state: fromUnknown(TaskState)
}
