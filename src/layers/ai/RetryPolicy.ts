import { Duration, Schedule } from "effect"
import { isProviderFailure, isRetryable } from "./errors.ts"

export interface RetryConfig {
  /** Attempts after the first one. */
  readonly maxRetries: number
  readonly baseDelayMillis: number
  readonly maxDelayMillis: number
}

/**
 * Exponential backoff with jitter, capped, for the provider's own faults only. Rejections by the
 * optimizer (breaker, limiter, bulkhead) are not retried: they already say when to come back. When the
 * provider sent `Retry-After`, the next attempt waits at least that long, even past the cap: coming back
 * earlier would only earn another 429.
 */
export const retrySchedule = <E extends { readonly _tag: string }>(config: RetryConfig) =>
  Schedule.exponential(Duration.millis(config.baseDelayMillis), 2).pipe(
    Schedule.jittered,
    // Whole milliseconds: jitter's fractions would otherwise let float error creep past the cap.
    Schedule.modifyDelay((_, delay) =>
      Duration.millis(Math.min(Math.round(Duration.toMillis(delay)), config.maxDelayMillis))
    ),
    Schedule.intersect(Schedule.recurs(config.maxRetries)),
    Schedule.intersect(Schedule.identity<E>()),
    Schedule.modifyDelay(([, error], delay) =>
      error._tag === "ProviderHttpError" && "retryAfter" in error && Duration.isDuration(error.retryAfter)
        ? Duration.max(delay, error.retryAfter)
        : delay
    ),
    Schedule.whileInput((error: E) => isProviderFailure(error) && isRetryable(error))
  )
