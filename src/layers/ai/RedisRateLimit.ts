import { Duration, Effect, Redacted, Ref, type Scope } from "effect"
import type { Redis as IORedis } from "ioredis"
import { makeRedisConnection } from "../redis/Redis.ts"
import { RateLimited } from "./errors.ts"
import { makeLocalRateLimit, type RateLimit, type RateLimitConfig, refillMillis } from "./RateLimit.ts"

export interface RedisTarget {
  readonly url: string
  /** Every instance that should share the limit uses the same prefix. */
  readonly prefix: string
}

/**
 * `reserve` of RateLimit.ts, run atomically inside Redis on one hash (`tokens`, `last`), with the Redis
 * server's clock so that instances whose clocks differ still share one refill grid. It answers
 * `{granted, waitMillis}`: a granted caller owns the turn `waitMillis` from now; a refused one reserved
 * nothing. The key expires once the bucket would have refilled completely, when its state equals a
 * fresh bucket's.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local burst = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil or last == nil then
  tokens = burst
  last = now
end
local refills = math.floor((now - last) / interval)
if refills > 0 then
  tokens = math.min(burst, tokens + refills)
  last = last + refills * interval
end
local after = tokens - 1
local startAt = now
if after < 0 then
  startAt = last - after * interval
end
local wait = startAt - now
local granted = 1
if wait > maxWait then
  granted = 0
  after = tokens
end
redis.call('HSET', KEYS[1], 'tokens', after, 'last', last)
redis.call('PEXPIRE', KEYS[1], math.max(wait, 0) + (burst + 1) * interval)
return {granted, wait}
`

/** `cancel` of RateLimit.ts: a waiter that gives up returns its turn. */
const CANCEL = `
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens ~= nil then
  redis.call('HSET', KEYS[1], 'tokens', math.min(tonumber(ARGV[1]), tokens + 1))
end
return 0
`

/** A Redis that does not answer within this long is treated as down for this call. */
const REDIS_TIMEOUT = Duration.seconds(1)

const isReply = (reply: unknown): reply is readonly [number, number] =>
  Array.isArray(reply) && typeof reply[0] === "number" && typeof reply[1] === "number"

/**
 * The same token bucket as the in-process limiter (`burst` tokens, `limit - burst` refills per window,
 * hence never more than `limit` starts in any window), kept in Redis so every instance draws from one
 * bucket. Each caller reserves its own turn in one atomic script and sleeps until it, so waiting callers
 * of all instances are released one per refill, in arrival order, as with the local limiter. If Redis
 * fails, the call falls back to a local bucket: each instance then holds the limit on its own rather
 * than stopping all AI calls.
 */
export const makeRedisRateLimit = (
  config: RateLimitConfig,
  target: RedisTarget
): Effect.Effect<RateLimit, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { client } = yield* makeRedisConnection(Redacted.make(target.url))
    const fallback = yield* makeLocalRateLimit(config)
    const waiting = yield* Ref.make(0)
    const key = `${target.prefix}ai`
    const interval = refillMillis(config)

    const run = (redis: IORedis, script: string, args: ReadonlyArray<number>) =>
      Effect.tryPromise(() => redis.eval(script, 1, key, ...args)).pipe(
        Effect.timeoutOption(REDIS_TIMEOUT),
        Effect.flatMap((reply) =>
          reply._tag === "Some" ? Effect.succeed(reply.value) : Effect.fail(new Error("redis timed out"))
        )
      )

    const reserve = run(client, RESERVE, [config.burst, interval, config.maxWaitMillis]).pipe(
      Effect.flatMap((reply) =>
        isReply(reply)
          ? Effect.succeed({ granted: reply[0] === 1, waitMillis: reply[1] })
          : Effect.fail(new Error(`unexpected reply ${String(reply)}`))
      )
    )
    const giveBack = run(client, CANCEL, [config.burst]).pipe(Effect.ignore)

    const acquire: Effect.Effect<void, RateLimited> = Effect.uninterruptibleMask((restore) =>
      Effect.gen(function* () {
        const turn = yield* Effect.result(reserve)
        if (turn._tag === "Failure") {
          yield* Effect.logWarning("shared AI rate limit unavailable; using the local limit").pipe(
            Effect.annotateLogs("error", turn.failure.message)
          )
          return yield* restore(fallback.acquire)
        }
        const { granted, waitMillis } = turn.success
        if (!granted) return yield* new RateLimited({ retryAfter: Duration.millis(waitMillis) })
        if (waitMillis <= 0) return
        yield* Ref.update(waiting, (n) => n + 1)
        yield* restore(Effect.sleep(Duration.millis(waitMillis))).pipe(
          Effect.onInterrupt(() => giveBack),
          Effect.ensuring(Ref.update(waiting, (n) => n - 1))
        )
      })
    )
    return { acquire, waiting: Ref.get(waiting) }
  })
