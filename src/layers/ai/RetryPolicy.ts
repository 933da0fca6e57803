import { Duration, Effect, Schedule } from "effect"
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
export const retrySchedule = <E extends { readonly _tag: string }>(
  config: RetryConfig
): Schedule.Schedule<Duration.Duration, E> =>
  Schedule.exponential(Duration.millis(config.baseDelayMillis), 2).pipe(
    Schedule.setInputType<E>(),
    Schedule.jittered,
    // Whole milliseconds: jitter's fractions would otherwise let float error creep past the cap.
    Schedule.modifyDelay(({ duration }) =>
      Effect.succeed(
        Duration.millis(Math.min(Math.round(Duration.toMillis(duration)), config.maxDelayMillis))
      )
    ),
    Schedule.modifyDelay(({ input, duration }) =>
      Effect.succeed(
        input._tag === "ProviderHttpError" && "retryAfter" in input && Duration.isDuration(input.retryAfter)
          ? Duration.max(duration, input.retryAfter)
          : duration
      )
    ),
    // `attempt` counts from 1 at the first failure: at most `maxRetries` further attempts.
    Schedule.while(
      ({ input, attempt }) => attempt <= config.maxRetries && isProviderFailure(input) && isRetryable(input)
    )
  )
