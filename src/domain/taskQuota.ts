import { Result, Schema } from "effect"
import { compiledMake, fromUnknown, Timestamp } from "./common.ts"
import type { Decider } from "./Decider.ts"
import { TaskId, UserId } from "./ids.ts"

/**
 * A user's open-task quota (`MAX_OPEN_TASKS`): one aggregate per user, so that two creations racing on
 * two instances are decided one after the other on the same stream (optimistic concurrency), and the
 * cap holds across instances sharing one store.
 *
 * The quota does not keep its own count of open tasks, which a crash between two appends could make
 * drift forever. The truth is the tasks' own events: the command carries what the task log says (the
 * user's open tasks, and the ones completed or deleted), and the quota adds only what the log cannot
 * know yet, reservations for tasks being created right now. A reservation names its task, so it stops
 * counting separately once that task is in the log, and it expires after `hold_ms`: a reservation left
 * by a crash before its task was created frees its slot by itself. Tasks created before the quota
 * existed count from the first reservation on, because they are in the log.
 */

export class TooManyOpenTasks extends Schema.TaggedError<TooManyOpenTasks>()(
  "TooManyOpenTasks",
  {
    message: Schema.String,
    details: Schema.Struct({ limit: Schema.Int, open: Schema.Int })
  },
  {
    httpApiStatus: 409,
    description: "The user has as many open tasks as allowed; complete or delete one first"
  }
) {}

export const tooManyOpenTasks = (limit: number, open: number): TooManyOpenTasks =>
  new TooManyOpenTasks({
    message: `At most ${limit} open tasks; complete or delete one first`,
    details: { limit, open }
  })

/** What the task log says of a user's tasks, at the moment the command is built. */
export const TaskLogView = Schema.Struct({
  /** Not completed, not deleted. */
  open: Schema.Array(TaskId),
  /** Completed or deleted: terminal, so a reservation for one of them is done with. */
  closed: Schema.Array(TaskId)
})
export type TaskLogView = typeof TaskLogView.Type

export const ReserveTaskSlot = compiledMake(
  Schema.TaggedStruct("ReserveTaskSlot", {
    user_id: UserId,
    task_id: TaskId,
    log: TaskLogView,
    limit: Schema.Int,
    /** How long a reservation counts without its task in the log. */
    hold_ms: Schema.Int,
    at: Timestamp
  })
)
export type ReserveTaskSlot = typeof ReserveTaskSlot.Type

export type TaskQuotaCommand = ReserveTaskSlot

export const TaskSlotReserved = compiledMake(
  Schema.TaggedStruct("TaskSlotReserved", { user_id: UserId, task_id: TaskId, at: Timestamp })
)
export type TaskSlotReserved = typeof TaskSlotReserved.Type

/** Reservations no longer needed: their task is closed, or they expired without one. */
export const TaskSlotsReleased = compiledMake(
  Schema.TaggedStruct("TaskSlotsReleased", {
    user_id: UserId,
    task_ids: Schema.Array(TaskId),
    at: Timestamp
  })
)
export type TaskSlotsReleased = typeof TaskSlotsReleased.Type

export const TaskQuotaEvent = Schema.Union([TaskSlotReserved, TaskSlotsReleased])
export type TaskQuotaEvent = typeof TaskQuotaEvent.Type

export const Reservation = Schema.Struct({ task_id: TaskId, at: Timestamp })
export type Reservation = typeof Reservation.Type

/** Bounded: a reservation is kept only while it counts, so there are never more than the limit. */
export const TaskQuotaState = Schema.Struct({ reservations: Schema.Array(Reservation) }).annotate({
  identifier: "TaskQuotaState"
})
export type TaskQuotaState = typeof TaskQuotaState.Type

export const initialTaskQuotaState: TaskQuotaState = { reservations: [] }

/**
 * The user's open tasks as of `at`: those the log says are open, plus live reservations whose task the
 * log does not know yet. `released` are the reservations that no longer count.
 */
export const openTasks = (
  state: TaskQuotaState,
  log: TaskLogView,
  at: Date,
  holdMs: number
): { readonly count: number; readonly released: ReadonlyArray<TaskId> } => {
  const open = new Set(log.open)
  const closed = new Set(log.closed)
  const released: Array<TaskId> = []
  let pending = 0
  for (const reservation of state.reservations) {
    if (closed.has(reservation.task_id) || at.getTime() - reservation.at.getTime() >= holdMs) {
      released.push(reservation.task_id)
    } else if (!open.has(reservation.task_id)) {
      pending++
    }
  }
  return { count: open.size + pending, released }
}

export const decideTaskQuota = (
  state: TaskQuotaState,
  c: TaskQuotaCommand
): Result.Result<ReadonlyArray<TaskQuotaEvent>, TooManyOpenTasks> => {
  // A retried reservation (same task id) is already counted.
  if (state.reservations.some((r) => r.task_id === c.task_id)) return Result.succeed([])
  const { count, released } = openTasks(state, c.log, c.at, c.hold_ms)
  if (count >= c.limit) return Result.fail(tooManyOpenTasks(c.limit, count))
  const reserved = TaskSlotReserved.make({ user_id: c.user_id, task_id: c.task_id, at: c.at })
  return Result.succeed(
    released.length === 0
      ? [reserved]
      : [TaskSlotsReleased.make({ user_id: c.user_id, task_ids: released, at: c.at }), reserved]
  )
}

export const evolveTaskQuota = (state: TaskQuotaState, event: TaskQuotaEvent): TaskQuotaState => {
  switch (event._tag) {
    case "TaskSlotReserved":
      return { reservations: [...state.reservations, { task_id: event.task_id, at: event.at }] }
    case "TaskSlotsReleased": {
      const released = new Set(event.task_ids)
      return { reservations: state.reservations.filter((r) => !released.has(r.task_id)) }
    }
  }
}

/**
 * Stream `taskquota-<user_id>`. Not `task-quota-…`: that would start with the task streams' prefix,
 * which the task index and the block-credit process manager select task events by.
 */
export const TaskQuotaDecider: Decider<TaskQuotaState, TaskQuotaCommand, TaskQuotaEvent, TooManyOpenTasks> = {
  type: "taskquota",
  initialState: initialTaskQuotaState,
  decide: decideTaskQuota,
  evolve: evolveTaskQuota,
  event: fromUnknown(TaskQuotaEvent),
  state: fromUnknown(TaskQuotaState)
}
