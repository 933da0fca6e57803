import * as Limiter from "@effect/experimental/RateLimiter"
import * as RedisStore from "@effect/experimental/RateLimiter/Redis"
import { Clock, Duration, Effect, Layer, Random, Ref, type Scope } from "effect"
import { RateLimited } from "./errors.ts"
import { makeLocalRateLimit, type RateLimit, type RateLimitConfig, refillMillis } from "./RateLimit.ts"

export interface RedisTarget {
  readonly url: string
  /** Every instance that should share the limit uses the same prefix. */
  readonly prefix: string
}

const redisOptions = (url: string) => {
  const parsed = new URL(url)
  const db = Number(parsed.pathname.replace("/", ""))
  return {
    host: parsed.hostname,
    port: parsed.port === "" ? 6379 : Number(parsed.port),
    ...(parsed.username === "" ? {} : { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password === "" ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
    // A Redis outage must not hold limiter calls for long: fail after one reconnect attempt and fall
    // back to the local limit.
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000
  }
}

/**
 * The same token bucket as the in-process limiter (`burst` tokens, `limit - burst` refills per window,
 * hence never more than `limit` starts in any window), kept in Redis by `@effect/experimental`'s
 * RateLimiter so every instance draws from one bucket. The store's atomic scripts only take a token or
 * refuse, so a caller that is refused sleeps for the `retryAfter` it was given (plus jitter, so that
 * instances do not retry in lockstep) until its wait bound is spent. If Redis fails, the call falls back
 * to a local bucket: each instance then holds the limit on its own rather than stopping all AI calls.
 */
export const makeRedisRateLimit = (
  config: RateLimitConfig,
  target: RedisTarget
): Effect.Effect<RateLimit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const context = yield* Layer.build(
      Limiter.layer.pipe(
        Layer.provide(RedisStore.layerStore({ ...redisOptions(target.url), prefix: target.prefix }))
      )
    )
    const limiter = yield* Effect.provide(Limiter.RateLimiter, context)
    const fallback = yield* makeLocalRateLimit(config)
    const waiting = yield* Ref.make(0)
    const interval = refillMillis(config)
    const consume = limiter.consume({
      algorithm: "token-bucket",
      onExceeded: "fail",
      key: "ai",
      limit: config.burst,
      window: Duration.millis(interval * config.burst)
    })

    const attempt = (startedAt: number): Effect.Effect<void, RateLimited> =>
      consume.pipe(
        Effect.asVoid,
        Effect.catchTags({
          RateLimiterError: (error) =>
            error.reason === "StoreError"
              ? Effect.zipRight(
                  Effect.logWarning("shared AI rate limit unavailable; using the local limit").pipe(
                    Effect.annotateLogs("error", error.message)
                  ),
                  fallback.acquire
                )
              : Effect.gen(function* () {
                  const now = yield* Clock.currentTimeMillis
                  const retryAfter = Duration.toMillis(error.retryAfter)
                  if (now - startedAt + retryAfter > config.maxWaitMillis) {
                    return yield* new RateLimited({ retryAfter: Duration.millis(retryAfter) })
                  }
                  const jitter = yield* Random.nextIntBetween(0, Math.max(1, Math.floor(interval / 10)))
                  yield* Effect.sleep(Duration.millis(retryAfter + jitter))
                  return yield* attempt(startedAt)
                })
        })
      )

    const acquire = Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      yield* Ref.update(waiting, (n) => n + 1)
      yield* attempt(startedAt).pipe(Effect.ensuring(Ref.update(waiting, (n) => n - 1)))
    })
    return { acquire, waiting: Ref.get(waiting) }
  })
