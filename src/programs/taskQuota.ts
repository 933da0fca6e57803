import { Effect } from "effect"
import type { TaskId, UserId } from "../domain/ids.ts"
import { openTasks, ReserveTaskSlot, tooManyOpenTasks } from "../domain/taskQuota.ts"
import { type Aggregates, now } from "./Aggregates.ts"
import type { TaskIndex } from "./projections.ts"

/**
 * How long a reservation counts before its task appears in the log. Creation follows the reservation
 * at once (the breakdown runs before it), so a minute is ample; it bounds how long a crash between
 * the two appends holds a slot.
 */
export const RESERVATION_HOLD_MS = 60_000

/**
 * `MAX_OPEN_TASKS` for the task program: `check` refuses early without writing (before the breakdown
 * chain runs), `reserve` is the decision, serialised per user by the `taskquota` aggregate so that
 * concurrent creations on any number of instances cannot pass the cap together.
 */
export const makeOpenTaskQuota = (
  quotas: (typeof Aggregates.Service)["taskQuotas"],
  index: typeof TaskIndex.Service,
  limit: number
) => {
  /** Refuses when the user is already at the cap; reads only (an unknown user's quota costs no actor). */
  const check = (userId: UserId) =>
    Effect.gen(function* () {
      const [log, quota, at] = yield* Effect.all([index.taskLogOf(userId), quotas.read(userId), now], {
        concurrency: 2
      })
      const { count } = openTasks(quota.state, log, at, RESERVATION_HOLD_MS)
      if (count >= limit) return yield* Effect.fail(tooManyOpenTasks(limit, count))
    })

  /** Takes one slot for `taskId`, on the task log as it is now. */
  const reserve = (userId: UserId, taskId: TaskId) =>
    Effect.gen(function* () {
      const log = yield* index.taskLogOf(userId)
      yield* quotas.send(
        userId,
        ReserveTaskSlot.make({
          user_id: userId,
          task_id: taskId,
          log,
          limit,
          hold_ms: RESERVATION_HOLD_MS,
          at: yield* now
        })
      )
    })

  return { check, reserve, limit } as const
}
