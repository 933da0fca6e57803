import { Clock, Duration, Effect, Ref } from "effect"
import { RateLimited } from "./errors.ts"

export interface RateLimitConfig {
  /** Never more than this many calls start in any window of `windowMillis` (half-open: [t, t + window)). */
  readonly limit: number
  readonly windowMillis: number
  /** How many calls may start back to back; must be below `limit`. */
  readonly burst: number
  /** A caller waits at most this long for its turn, then gets `RateLimited`. */
  readonly maxWaitMillis: number
}

/**
 * A token bucket holding `burst` tokens and refilling `limit - burst` per window on a fixed grid, so the
 * starts in any window are at most the tokens held at its beginning plus the refills inside it:
 * `burst + (limit - burst) = limit`. (A bucket holding `limit` and refilling `limit` per window — what
 * `effect/RateLimiter` does — lets up to `2 × limit - 1` start within one window.) Rounding the refill
 * interval up keeps the bound when the window does not divide evenly.
 */
export const refillMillis = (config: RateLimitConfig): number =>
  Math.ceil(config.windowMillis / (config.limit - config.burst))

export const validateRateLimit = (config: RateLimitConfig): string | undefined =>
  config.limit < 2
    ? "the rate limit must allow at least 2 calls per window"
    : config.burst < 1 || config.burst >= config.limit
      ? "the burst must be at least 1 and below the rate limit"
      : undefined

export interface RateLimit {
  /** Waits for this caller's turn (at most the configured bound), or fails with `RateLimited`. */
  readonly acquire: Effect.Effect<void, RateLimited>
  readonly waiting: Effect.Effect<number>
}

export interface Bucket {
  /** Negative while turns are reserved ahead of the refills that will pay for them. */
  readonly tokens: number
  /** The latest grid point at or before the last update. */
  readonly lastRefill: number
}

/**
 * Reserves the next turn. Every caller gets its own refill instant, so waiting callers are released
 * one per refill in arrival order instead of all together. A turn further away than `maxWaitMillis`
 * is not reserved at all, so rejected callers cost the others nothing.
 */
export const reserve = (
  bucket: Bucket,
  now: number,
  config: RateLimitConfig
): readonly [{ readonly startAt: number } | { readonly retryAfterMillis: number }, Bucket] => {
  const interval = refillMillis(config)
  const refills = Math.floor((now - bucket.lastRefill) / interval)
  const refilled =
    refills > 0
      ? {
          tokens: Math.min(config.burst, bucket.tokens + refills),
          lastRefill: bucket.lastRefill + refills * interval
        }
      : bucket
  const tokens = refilled.tokens - 1
  const startAt = tokens >= 0 ? now : refilled.lastRefill - tokens * interval
  if (startAt - now > config.maxWaitMillis) return [{ retryAfterMillis: startAt - now }, refilled]
  return [{ startAt }, { ...refilled, tokens }]
}

/**
 * Giving a cancelled turn back is always safe: the turns already handed out keep their (now possibly
 * later than needed) start times, so no window ever sees more starts than it had tokens.
 */
export const cancel = (bucket: Bucket, config: RateLimitConfig): Bucket => ({
  ...bucket,
  tokens: Math.min(config.burst, bucket.tokens + 1)
})

export const makeLocalRateLimit = (config: RateLimitConfig): Effect.Effect<RateLimit> =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const bucket = yield* Ref.make<Bucket>({ tokens: config.burst, lastRefill: start })
    const waiting = yield* Ref.make(0)
    const acquire = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const turn = yield* Ref.modify(bucket, (current) => reserve(current, now, config))
        if ("retryAfterMillis" in turn) {
          return yield* new RateLimited({ retryAfter: Duration.millis(turn.retryAfterMillis) })
        }
        if (turn.startAt <= now) return
        yield* Ref.update(waiting, (n) => n + 1)
        yield* restore(Effect.sleep(Duration.millis(turn.startAt - now))).pipe(
          Effect.onInterrupt(() => Ref.update(bucket, (current) => cancel(current, config))),
          Effect.ensuring(Ref.update(waiting, (n) => n - 1))
        )
      })
    )
    return { acquire, waiting: Ref.get(waiting) }
  })
