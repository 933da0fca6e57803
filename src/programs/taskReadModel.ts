import { Context, Duration, Effect, Layer, Schema } from "effect"
import { type DashboardInputs, DASHBOARD_LIST_LIMIT } from "../domain/dashboard.ts"
import { TaskId, type UserId } from "../domain/ids.ts"
import type { TaskLogView } from "../domain/taskQuota.ts"
import {
  evolveTaskState,
  initialTaskState,
  type Task,
  TaskEvent,
  TaskState,
  type TaskStatus
} from "../domain/task.ts"
import {
  IN_PROGRESS_TOUCH,
  ReadModelStore,
  type RowWrite,
  type TaskRow
} from "../eventsourcing/ReadModelStore.ts"
import { makeSubscription, type ReadModelBehind } from "../eventsourcing/Subscription.ts"
import { Overloaded } from "../eventsourcing/EntityRuntime.ts"
import type { EventStoreError, StoredEvent } from "../eventsourcing/EventStore.ts"

/** How often the background loop folds new task events when no listing asked for them. */
export const TASK_READ_MODEL_INTERVAL = Duration.seconds(1)

/** Task streams are `task-<task id>` (`TaskDecider.type`). */
export const TASK_STREAM_PREFIX = "task-"

const decodeEvent = Schema.decodeUnknownSync(TaskEvent)
const encodeState = Schema.encodeSync(TaskState)
const decodeState = Schema.decodeUnknownSync(TaskState)

const LIVE: ReadonlyArray<TaskRow["status"]> = ["pending", "in_progress", "completed"]
const OPEN: ReadonlyArray<TaskRow["status"]> = ["pending", "in_progress"]
const CLOSED: ReadonlyArray<TaskRow["status"]> = ["completed", "deleted"]

const touchedAt = (task: Task): number => {
  let latest = 0
  for (const block of task.blocks) {
    if (block.status === "in_progress") return IN_PROGRESS_TOUCH
    latest = Math.max(latest, block.completed_at?.getTime() ?? 0, block.started_at?.getTime() ?? 0)
  }
  return latest
}

/** The row of a task after `event`, given its row before (none before its creation). */
const rowOf = (state: TaskState, event: TaskEvent, before: TaskRow | undefined): TaskRow | undefined => {
  const task = state.task
  if (task !== null) {
    return {
      task_id: task.id,
      user_id: task.user_id,
      status: task.status,
      created_at: task.created_at.getTime(),
      updated_at: task.updated_at.getTime(),
      touched_at: touchedAt(task),
      state: encodeState(state)
    }
  }
  if (!state.deleted || before === undefined) return undefined
  return {
    ...before,
    status: "deleted",
    updated_at: event.at.getTime(),
    touched_at: 0,
    state: encodeState(state)
  }
}

/** Folds a page of the log into the rows of the tasks it touches. */
const foldPage = (readModels: ReadModelStore["Service"]) => (page: ReadonlyArray<StoredEvent>) =>
  Effect.gen(function* () {
    const events: Array<TaskEvent> = []
    for (const stored of page) {
      // An event of ours that no longer decodes is corrupt data or a missing upcaster: a defect.
      if (stored.streamId.startsWith(TASK_STREAM_PREFIX)) events.push(decodeEvent(stored.data))
    }
    if (events.length === 0) return []
    const ids = [...new Set(events.map((e) => e.task_id))]
    const rows = new Map<string, TaskRow>()
    const states = new Map<string, TaskState>()
    for (const row of yield* readModels.tasks.byIds(ids)) {
      rows.set(row.task_id, row)
      states.set(row.task_id, decodeState(row.state))
    }
    for (const event of events) {
      const state = evolveTaskState(states.get(event.task_id) ?? initialTaskState, event)
      states.set(event.task_id, state)
      const row = rowOf(state, event, rows.get(event.task_id))
      if (row !== undefined) rows.set(event.task_id, row)
    }
    const writes: Array<RowWrite> = []
    for (const id of ids) {
      const row = rows.get(id)
      if (row !== undefined) writes.push({ table: "tasks", row })
    }
    return writes
  })

/** A read model that could not catch up in time answers like a busy actor: 503 with Retry-After. */
const behindAsOverloaded = (behind: ReadModelBehind) =>
  new Overloaded({ entity: `read model ${behind.subscription}`, retryAfterSeconds: behind.retryAfterSeconds })

/**
 * Open tasks read for the quota at most: `MAX_OPEN_TASKS` keeps a user far below it (only a store
 * written before the cap existed can hold more).
 */
const OPEN_TASKS_READ_BOUND = 10_000

const tasksOf = (rows: ReadonlyArray<TaskRow>): Array<Task> =>
  rows.flatMap((row) => {
    const task = decodeState(row.state).task
    return task === null ? [] : [task]
  })

export interface TaskPage {
  readonly items: ReadonlyArray<Task>
  readonly total: number
}

/**
 * The user's tasks as a persisted read model (table `rm_tasks`, kept by the `tasks` subscription over
 * the global log): task streams are keyed by task id, so this is what answers "the tasks of user U".
 * Every query first catches the table up to the log's head (bounded by `CATCH_UP_BOUND`), so an
 * answer reflects every write committed before it, on this instance or another; a new process answers
 * its first listing from the table, without replaying the log.
 */
export class TaskReadModel extends Context.Service<TaskReadModel>()("TaskReadModel", {
  make: Effect.gen(function* () {
    const readModels = yield* ReadModelStore
    const subscription = yield* makeSubscription({
      name: "tasks",
      version: 1,
      tables: ["tasks"],
      streams: [TASK_STREAM_PREFIX],
      handle: foldPage(readModels)
    })

    const query = <A>(read: Effect.Effect<A, EventStoreError>): Effect.Effect<A, Overloaded> =>
      Effect.andThen(
        subscription.catchUp.pipe(Effect.mapError(behindAsOverloaded)),
        // A store that fails to answer after catching up is down: a defect, as for every store read.
        Effect.orDie(read)
      )

    /** The user's tasks (of one status, when given), newest first. */
    const page = (
      userId: UserId,
      options: { readonly status?: TaskStatus | undefined; readonly limit: number; readonly offset: number }
    ): Effect.Effect<TaskPage, Overloaded> =>
      query(
        readModels.tasks.page(userId, {
          statuses: options.status === undefined ? LIVE : [options.status],
          limit: options.limit,
          offset: options.offset
        })
      ).pipe(Effect.map(({ rows, total }) => ({ items: tasksOf(rows), total })))

    /** What the dashboard needs, bounded however many tasks the user has. */
    const dashboardInputs = (userId: UserId, dayStart: number): Effect.Effect<DashboardInputs, Overloaded> =>
      query(
        Effect.all(
          [
            readModels.tasks.recentlyUpdated(userId, OPEN, DASHBOARD_LIST_LIMIT),
            readModels.tasks.counts(userId),
            readModels.tasks.touchedSince(userId, dayStart)
          ],
          { concurrency: "unbounded" }
        )
      ).pipe(
        Effect.map(([active, counts, touched]) => ({
          active: tasksOf(active),
          totalActive: (counts.pending ?? 0) + (counts.in_progress ?? 0),
          totalCompleted: counts.completed ?? 0,
          touched: tasksOf(touched)
        }))
      )

    /** The user's tasks with a block started or completed at or after `since`, or one running. */
    const touchedSince = (userId: UserId, since: number): Effect.Effect<ReadonlyArray<Task>, Overloaded> =>
      query(readModels.tasks.touchedSince(userId, since)).pipe(Effect.map(tasksOf))

    /**
     * The user's open tasks, and the ones closed (completed or deleted) at or after `closedSince`: what
     * the open-task quota needs to tell which of its recent reservations have their task in the log.
     */
    const taskLogOf = (userId: UserId, closedSince: number): Effect.Effect<TaskLogView, Overloaded> =>
      query(
        Effect.all(
          [
            readModels.tasks.page(userId, { statuses: OPEN, limit: OPEN_TASKS_READ_BOUND, offset: 0 }),
            readModels.tasks.updatedSince(userId, CLOSED, closedSince)
          ],
          { concurrency: "unbounded" }
        )
      ).pipe(
        Effect.map(([open, closed]) => ({
          open: open.rows.map((r) => TaskId.make(r.task_id)),
          closed: closed.map((r) => TaskId.make(r.task_id))
        }))
      )

    return { page, dashboardInputs, touchedSince, taskLogOf, subscription } as const
  })
}) {
  /** Dependencies (EventStore, ReadModelStore) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}
