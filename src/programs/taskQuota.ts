import { Effect } from "effect"
import type { TaskId, UserId } from "../domain/ids.ts"
import { openTasks, ReserveTaskSlot, tooManyOpenTasks } from "../domain/taskQuota.ts"
import { type Aggregates, now } from "./aggregates.ts"
import type { TaskReadModel } from "./taskReadModel.ts"

/**
 * How long a reservation counts before its task appears in the log. Creation follows the reservation
 * at once (the breakdown runs before it), so a minute is ample; it bounds how long a crash between
 * the two appends holds a slot.
 */
export const RESERVATION_HOLD_MS = 60_000

/**
 * A reservation counts for `RESERVATION_HOLD_MS` at most and its task is created after it, so a task
 * closed before twice that long ago cannot be one a live reservation names: the quota needs only the
 * recently closed ones (with a margin for clocks of other instances).
 */
const closedSince = (at: Date) => at.getTime() - 2 * RESERVATION_HOLD_MS

/**
 * `MAX_OPEN_TASKS` for the task program: `check` refuses early without writing (before the breakdown
 * chain runs), `reserve` is the decision, serialised per user by the `taskquota` aggregate so that
 * concurrent creations on any number of instances cannot pass the cap together.
 */
export const makeOpenTaskQuota = (
  quotas: (typeof Aggregates.Service)["taskQuotas"],
  index: typeof TaskReadModel.Service,
  limit: number
) => {
  /** Refuses when the user is already at the cap; reads only (an unknown user's quota costs no actor). */
  const check = (userId: UserId) =>
    Effect.gen(function* () {
      const at = yield* now
      const [log, quota] = yield* Effect.all(
        [index.taskLogOf(userId, closedSince(at)), quotas.read(userId)],
        {
          concurrency: 2
        }
      )
      const { count } = openTasks(quota.state, log, at, RESERVATION_HOLD_MS)
      if (count >= limit) return yield* Effect.fail(tooManyOpenTasks(limit, count))
    })

  /** Takes one slot for `taskId`, on the task log as it is now. */
  const reserve = (userId: UserId, taskId: TaskId) =>
    Effect.gen(function* () {
      const at = yield* now
      const log = yield* index.taskLogOf(userId, closedSince(at))
      yield* quotas.send(
        userId,
        ReserveTaskSlot.make({
          user_id: userId,
          task_id: taskId,
          log,
          limit,
          hold_ms: RESERVATION_HOLD_MS,
          at
        })
      )
    })

  return { check, reserve, limit } as const
}
