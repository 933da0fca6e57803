import { Context, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { type Difficulty, startOfUtcDay } from "../domain/common.ts"
import { dashboardOf } from "../domain/dashboard.ts"
import { blockNotFound, taskNotFound } from "../domain/errors.ts"
import { type BlockId, TaskId, type UserId } from "../domain/ids.ts"
import {
  type Block,
  CompleteBlock,
  CreateTask,
  DeleteTask,
  StartBlock,
  payOfCompletion,
  type Task,
  type TaskStatus,
  UpdateTask
} from "../domain/task.ts"
import { creditFor } from "../domain/wallet.ts"
import { Overloaded } from "../eventsourcing/EntityRuntime.ts"
import { Aggregates, failsOnlyWith, now, storeFailuresAsDefects } from "./aggregates.ts"
import { TaskReadModel } from "./taskReadModel.ts"
import { bonusOf } from "./rewardStore.ts"
import { TaskBreakdown } from "./taskBreakdown.ts"
import { makeOpenTaskQuota } from "./taskQuota.ts"
import { MaxOpenTasksConfig, readSetting } from "../layers/config/AppConfig.ts"
import { withSpan } from "../layers/observability/spans.ts"

export interface NewTask {
  readonly title: string
  readonly description: string
  readonly duration_minutes: number
  readonly difficulty: Difficulty
}

export interface TaskPatch {
  readonly title?: string | undefined
  readonly description?: string | undefined
  readonly difficulty?: Difficulty | undefined
  readonly duration_minutes?: number | undefined
}

export interface Page {
  readonly limit: number
  readonly offset: number
}

const blockOf = (task: Task, blockId: BlockId) => {
  const block = task.blocks.find((b) => b.id === blockId)
  return block === undefined ? Effect.fail(blockNotFound(task.id, blockId)) : Effect.succeed(block)
}

/** Only `Overloaded` of the wallet's answers can reach a block credit; the rest would be a bug. */
const onlyOverloaded = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, Overloaded, R> =>
  Effect.catch(self, (error) => (error instanceof Overloaded ? Effect.fail(error) : Effect.die(error)))

/**
 * Tasks and their focus blocks. Commands go to the task's actor (the decider checks ownership: someone
 * else's task is "not found"); a single task is read from its actor, a user's list from the task
 * index projection.
 */
export class Tasks extends Context.Service<Tasks>()("Tasks", {
  make: Effect.gen(function* () {
    const aggregates = yield* Aggregates
    const { tasks, wallets } = aggregates
    const index = yield* TaskReadModel
    const breakdown = yield* TaskBreakdown
    const quota = makeOpenTaskQuota(aggregates.taskQuotas, index, yield* readSetting(MaxOpenTasksConfig))

    const owned = (task: Task | null, userId: UserId, taskId: TaskId) =>
      task !== null && task.user_id === userId ? Effect.succeed(task) : Effect.fail(taskNotFound(taskId))

    const mustExist = (task: Task | null, taskId: TaskId) =>
      task === null
        ? Effect.die(new Error(`task ${taskId} vanished after a successful command`))
        : Effect.succeed(task)

    /**
     * Within `MAX_OPEN_TASKS`: checked before the breakdown runs (a refused request runs no chain), then
     * a slot is reserved for this task id and the task created at once. The reservation names the task,
     * so a crash between the two appends holds the slot only until the reservation expires.
     */
    const create = (userId: UserId, input: NewTask) =>
      Effect.gen(function* () {
        const task_id = TaskId.make(randomUUID())
        yield* quota.check(userId)
        const blocks = yield* breakdown.plan(input)
        yield* quota.reserve(userId, task_id)
        const result = yield* tasks.send(
          task_id,
          CreateTask.make({ task_id, user_id: userId, ...input, blocks, at: yield* now })
        )
        return yield* mustExist(result.state.task, task_id)
      }).pipe(
        storeFailuresAsDefects,
        failsOnlyWith("InvalidInput", "Overloaded", "TooManyOpenTasks"),
        withSpan("Tasks.create")
      )

    const get = (userId: UserId, taskId: TaskId) =>
      tasks.read(taskId).pipe(
        Effect.flatMap(({ state }) => owned(state.task, userId, taskId)),
        storeFailuresAsDefects
      )

    const list = (userId: UserId, filter: { readonly status?: TaskStatus | undefined } & Page) =>
      Effect.map(index.page(userId, filter), ({ items, total }) => ({
        items,
        total,
        limit: filter.limit,
        offset: filter.offset
      }))

    const update = (userId: UserId, taskId: TaskId, patch: TaskPatch) =>
      Effect.gen(function* () {
        const current = yield* get(userId, taskId)
        // A new duration comes with a new cut of the blocks, through the same breakdown seam.
        const replan =
          patch.duration_minutes === undefined || patch.duration_minutes === current.duration_minutes
            ? undefined
            : {
                duration_minutes: patch.duration_minutes,
                blocks: yield* breakdown.plan({
                  title: patch.title ?? current.title,
                  description: patch.description ?? current.description,
                  duration_minutes: patch.duration_minutes,
                  difficulty: patch.difficulty ?? current.difficulty
                })
              }
        const result = yield* tasks.send(
          taskId,
          UpdateTask.make({
            task_id: taskId,
            user_id: userId,
            ...(patch.title === undefined ? {} : { title: patch.title }),
            ...(patch.description === undefined ? {} : { description: patch.description }),
            ...(patch.difficulty === undefined ? {} : { difficulty: patch.difficulty }),
            ...(replan === undefined ? {} : { replan }),
            at: yield* now
          })
        )
        return yield* mustExist(result.state.task, taskId)
      }).pipe(
        storeFailuresAsDefects,
        failsOnlyWith("TaskNotFound", "InvalidTransition", "InvalidInput", "Overloaded"),
        withSpan("Tasks.update")
      )

    const remove = (userId: UserId, taskId: TaskId) =>
      Effect.gen(function* () {
        yield* tasks.send(taskId, DeleteTask.make({ task_id: taskId, user_id: userId, at: yield* now }))
      }).pipe(storeFailuresAsDefects, failsOnlyWith("TaskNotFound", "Overloaded"), withSpan("Tasks.delete"))

    const startBlock = (userId: UserId, taskId: TaskId, blockId: BlockId) =>
      Effect.gen(function* () {
        const result = yield* tasks.send(
          taskId,
          StartBlock.make({ task_id: taskId, user_id: userId, block_id: blockId, at: yield* now })
        )
        const task = yield* mustExist(result.state.task, taskId)
        return { task, block: yield* blockOf(task, blockId) }
      }).pipe(
        storeFailuresAsDefects,
        failsOnlyWith("TaskNotFound", "BlockNotFound", "InvalidTransition", "Overloaded"),
        withSpan("Tasks.startBlock")
      )

    /**
     * The task actor records the completion, paid by server time since the block's start (`payForBlock`;
     * the answer's `pay` says what and why); the wallet is credited right after so the answer can
     * carry the tokens and the new balance. Should the process die between the two appends, the block
     * credit process manager (`blockCredits.ts`) pays it from the `BlockCompleted` event; the wallet
     * pays each block once, so both paths together still pay exactly once.
     */
    const completeBlock = (
      userId: UserId,
      taskId: TaskId,
      blockId: BlockId,
      input: {
        readonly proof_text?: string | undefined
        readonly effort_rating?: number | undefined
        /** Proof validation's verdict (0..1) on `proof_text`, 0 when invalid: adds a bonus of up to 30 %. */
        readonly proof_score?: number | undefined
      }
    ) =>
      Effect.gen(function* () {
        const result = yield* tasks.send(
          taskId,
          CompleteBlock.make({
            task_id: taskId,
            user_id: userId,
            block_id: blockId,
            ...(input.proof_text === undefined ? {} : { proof_text: input.proof_text }),
            ...(input.effort_rating === undefined ? {} : { effort_rating: input.effort_rating }),
            ...(input.proof_score === undefined ? {} : { proof_score: input.proof_score }),
            at: yield* now
          })
        )
        const task = yield* mustExist(result.state.task, taskId)
        const block: Block = yield* blockOf(task, blockId)
        const completed = result.events.find((e) => e._tag === "BlockCompleted")
        if (completed === undefined || completed._tag !== "BlockCompleted") {
          return yield* Effect.die(new Error(`completing block ${blockId} recorded no BlockCompleted`))
        }
        const pay = payOfCompletion(completed)
        if (pay === null) return yield* Effect.die(new Error(`block ${blockId} completed without its start`))
        const credit = yield* onlyOverloaded(
          wallets.send(userId, creditFor(completed), { causationId: result.stored[0]?.eventId ?? taskId })
        )
        return {
          task,
          block,
          tokens_earned: completed.tokens_earned,
          pay,
          bonus_tokens: bonusOf(credit.events),
          balance: credit.state.balance
        }
      }).pipe(
        storeFailuresAsDefects,
        failsOnlyWith("TaskNotFound", "BlockNotFound", "BlockNotStarted", "InvalidTransition", "Overloaded"),
        withSpan("Tasks.completeBlock")
      )

    const dashboardFor = (userId: UserId) =>
      Effect.gen(function* () {
        const at = yield* now
        const [inputs, wallet] = yield* Effect.all(
          [index.dashboardInputs(userId, startOfUtcDay(at)), wallets.read(userId)],
          { concurrency: 2 }
        )
        return dashboardOf(inputs, wallet.state, at)
      }).pipe(storeFailuresAsDefects)

    /** Refuses (`TooManyOpenTasks`) a user at `MAX_OPEN_TASKS`, writing nothing: for workflows that run chains before creating. */
    const ensureCanCreate = (userId: UserId) =>
      quota.check(userId).pipe(storeFailuresAsDefects, withSpan("Tasks.ensureCanCreate"))

    return {
      create,
      ensureCanCreate,
      get,
      list,
      update,
      remove,
      startBlock,
      completeBlock,
      dashboard: dashboardFor
    } as const
  })
}) {
  /** Dependencies (Aggregates, TaskReadModel, TaskBreakdown) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}
