import { Clock, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { taskNotFound } from "../../src/domain/errors.ts"
import { BlockId, TaskId, UserId } from "../../src/domain/ids.ts"
import {
  CompleteBlock,
  CreateTask,
  payOfCompletion,
  StartBlock,
  type Task,
  TaskDecider
} from "../../src/domain/task.ts"
import { makeEntityRuntime } from "../../src/eventsourcing/EntityRuntime.ts"
import { taskBreakdown } from "../../src/programs/chains/Builtins.ts"
import { ChainExecutor } from "../../src/programs/chains/ChainExecutor.ts"
import { TaskPort } from "../../src/programs/orchestrator/TaskPort.ts"

/**
 * The task program as the orchestrator sees it, on the real task decider and actor runtime, with
 * blocks cut by the `task_breakdown` chain (as the TaskBreakdown seam does in the application).
 */
export const TaskPortTest = Layer.effect(
  TaskPort,
  Effect.gen(function* () {
    const runtime = yield* makeEntityRuntime(TaskDecider)
    const executor = yield* ChainExecutor
    const latest = new Map<string, Task>()
    const now = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms))
    const keep = (task: Task | null) => {
      if (task === null) return Effect.die(new Error("task vanished"))
      latest.set(task.id, task)
      return Effect.succeed(task)
    }
    const owned = (userId: string, taskId: string) => {
      const task = latest.get(taskId)
      return task !== undefined && task.user_id === userId
        ? Effect.succeed(task)
        : Effect.fail(taskNotFound(taskId))
    }
    const blockOf = (task: Task, blockId: string) => {
      const block = task.blocks.find((b) => b.id === blockId)
      return block === undefined ? Effect.die(new Error("block vanished")) : Effect.succeed(block)
    }
    return TaskPort.of({
      create: (userId, input) =>
        Effect.gen(function* () {
          const plan = yield* Effect.orDie(executor.run(taskBreakdown, input))
          const task_id = TaskId.make(randomUUID())
          const result = yield* runtime.send(
            task_id,
            CreateTask.make({
              task_id,
              user_id: UserId.make(userId),
              ...input,
              blocks: plan.output.blocks.map((b) => ({
                block_id: BlockId.make(randomUUID()),
                title: b.title,
                duration_minutes: b.duration_minutes
              })),
              at: yield* now
            })
          )
          return yield* keep(result.state.task)
        }).pipe(
          Effect.catchTags({
            TaskNotFound: Effect.die,
            TaskAlreadyExists: Effect.die,
            BlockNotFound: Effect.die,
            BlockNotStarted: Effect.die,
            InvalidTransition: Effect.die,
            VersionConflict: Effect.die,
            EventStoreError: Effect.die
          })
        ),
      // This test double has no open-task cap.
      ensureCanCreate: () => Effect.void,
      get: owned,
      startBlock: (userId, taskId, blockId) =>
        Effect.gen(function* () {
          yield* owned(userId, taskId)
          const result = yield* runtime.send(
            taskId,
            StartBlock.make({
              task_id: TaskId.make(taskId),
              user_id: UserId.make(userId),
              block_id: BlockId.make(blockId),
              at: yield* now
            })
          )
          return yield* keep(result.state.task)
        }).pipe(
          Effect.catchTags({
            TaskAlreadyExists: Effect.die,
            BlockNotStarted: Effect.die,
            InvalidInput: Effect.die,
            VersionConflict: Effect.die,
            EventStoreError: Effect.die
          })
        ),
      completeBlock: (userId, taskId, blockId, input) =>
        Effect.gen(function* () {
          yield* owned(userId, taskId)
          const result = yield* runtime.send(
            taskId,
            CompleteBlock.make({
              task_id: TaskId.make(taskId),
              user_id: UserId.make(userId),
              block_id: BlockId.make(blockId),
              ...(input.proof_text === undefined ? {} : { proof_text: input.proof_text }),
              ...(input.proof_score === undefined ? {} : { proof_score: input.proof_score }),
              ...(input.effort_rating === undefined ? {} : { effort_rating: input.effort_rating }),
              at: yield* now
            })
          )
          const task = yield* keep(result.state.task)
          const completed = result.events.find((e) => e._tag === "BlockCompleted")
          const pay = completed?._tag === "BlockCompleted" ? payOfCompletion(completed) : null
          if (pay === null) return yield* Effect.die(new Error("completion recorded no pay"))
          return {
            task,
            block: yield* blockOf(task, blockId),
            tokens_earned: completed?._tag === "BlockCompleted" ? completed.tokens_earned : 0,
            pay
          }
        }).pipe(
          Effect.catchTags({
            TaskAlreadyExists: Effect.die,
            InvalidInput: Effect.die,
            VersionConflict: Effect.die,
            EventStoreError: Effect.die
          })
        )
    })
  })
)
