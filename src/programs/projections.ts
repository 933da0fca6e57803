import { Context, Effect, Layer, Schema, Semaphore, Stream } from "effect"
import { TaskId, type UserId } from "../domain/ids.ts"
import type { TaskLogView } from "../domain/taskQuota.ts"
import { evolveTaskState, initialTaskState, type Task, TaskEvent, type TaskState } from "../domain/task.ts"
import { EventStore } from "../layers/EventStore.ts"

const TASK_STREAM = "task-"
const decodeTaskEvent = Schema.decodeUnknownEffect(TaskEvent)

/**
 * Which tasks each user has, as a projection over `EventStore.readAll`: task streams are keyed by task
 * id, so nothing else can answer "the tasks of user U" without scanning. It folds every task event
 * with the task decider's own `evolve`, so a listed task is exactly what its actor would answer.
 *
 * Before answering, it catches up from its checkpoint (the global position of the last event folded
 * in), so a listing sees every write committed before it, this process's or another's. The
 * checkpoint lives in memory: a process rebuilds the index from position 1 on its first query, which
 * is cheap for the embedded store; a persisted read model is the step for when histories grow.
 */
export class TaskIndex extends Context.Service<TaskIndex>()("TaskIndex", {
  make: Effect.gen(function* () {
    const store = yield* EventStore
    // One catch-up at a time: concurrent listings wait for it and then share its result.
    const lock = yield* Semaphore.make(1)
    let checkpoint = 0
    const tasks = new Map<string, TaskState>()
    const byUser = new Map<string, Array<string>>()

    const fold = (event: TaskEvent) => {
      tasks.set(event.task_id, evolveTaskState(tasks.get(event.task_id) ?? initialTaskState, event))
      if (event._tag === "TaskCreated") {
        const owned = byUser.get(event.user_id) ?? []
        owned.push(event.task_id)
        byUser.set(event.user_id, owned)
      }
    }

    const catchUp = lock.withPermits(1)(
      Effect.suspend(() =>
        store.readAll({ fromPosition: checkpoint + 1 }).pipe(
          Stream.runForEach((stored) =>
            Effect.gen(function* () {
              if (stored.streamId.startsWith(TASK_STREAM)) {
                // An event of ours that no longer decodes is corrupt data or a missing migration.
                fold(yield* Effect.orDie(decodeTaskEvent(stored.data)))
              }
              checkpoint = stored.position
            })
          ),
          Effect.orDie
        )
      )
    )

    /** The user's live (not deleted) tasks, newest first (reverse order of creation in the log). */
    const tasksOf = (userId: UserId): Effect.Effect<ReadonlyArray<Task>> =>
      Effect.andThen(
        catchUp,
        Effect.sync(() =>
          [...(byUser.get(userId) ?? [])].reverse().flatMap((id) => {
            const task = tasks.get(id)?.task
            return task === undefined || task === null ? [] : [task]
          })
        )
      )

    /**
     * The user's task ids by whether they still count as open (not completed, not deleted): what the
     * open-task quota derives its count from (`src/domain/taskQuota.ts`).
     */
    const taskLogOf = (userId: UserId): Effect.Effect<TaskLogView> =>
      Effect.andThen(
        catchUp,
        Effect.sync(() => {
          const open: Array<TaskId> = []
          const closed: Array<TaskId> = []
          for (const id of byUser.get(userId) ?? []) {
            const task = tasks.get(id)?.task ?? null
            if (task === null || task.status === "completed") closed.push(TaskId.make(id))
            else open.push(task.id)
          }
          return { open, closed }
        })
      )

    return { tasksOf, taskLogOf, catchUp } as const
  })
}) {
  /** Dependencies (EventStore) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}
