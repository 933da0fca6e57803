import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Result } from "effect"
import { Redis } from "ioredis"
import { randomUUID } from "node:crypto"
import { makeAiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { testConfig } from "./support/aiScript.ts"

const REDIS_URL = "redis://127.0.0.1:6379"

/** Limit 6 per 6 s with a burst of 3: one refill every 2 s. */
const shared = (maxWaitMillis: number) =>
  testConfig({ rateLimit: { limit: 6, windowMillis: 6_000, burst: 3, maxWaitMillis } })

const pair = (maxWaitMillis: number) =>
  Effect.gen(function* () {
    const target = { url: REDIS_URL, prefix: `ff:test:ai:${randomUUID()}:` }
    // The store keeps its bucket without expiry: remove this run's two keys afterwards.
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const redis = new Redis(REDIS_URL)
        await redis.del(`${target.prefix}ai`, `${target.prefix}ai:refill`)
        await redis.quit()
      })
    )
    const a = yield* makeAiOptimizer(shared(maxWaitMillis), { redis: target })
    const b = yield* makeAiOptimizer(shared(maxWaitMillis), { redis: target })
    return [a, b] as const
  })

describe("AiOptimizer rate limit shared through Redis", () => {
  it.live("two instances sharing Redis hold the limit for the pair", () =>
    Effect.gen(function* () {
      const [a, b] = yield* pair(0)
      const results = yield* Effect.all(
        [...Array.from({ length: 5 }, () => a), ...Array.from({ length: 5 }, () => b)].map((optimizer) =>
          Effect.result(optimizer.execute(Effect.succeed("called")))
        ),
        { concurrency: "unbounded" }
      )
      // One bucket for both: the burst of 3 is the pair's, not 3 each.
      expect(results.filter(Result.isSuccess)).toHaveLength(3)
      const rejected = results.filter(Result.isFailure).map((r) => r.failure)
      expect(rejected).toHaveLength(7)
      for (const error of rejected) {
        expect(error._tag).toBe("RateLimited")
        if (error._tag === "RateLimited") expect(Duration.toMillis(error.retryAfter)).toBeGreaterThan(0)
      }
      expect((yield* a.stats).rateLimitScope).toBe("shared")
    })
  )

  it.live("waiting callers of both instances start as the shared bucket refills", () =>
    Effect.gen(function* () {
      const [a, b] = yield* pair(10_000)
      const starts: Array<number> = []
      const call = (optimizer: typeof a) => optimizer.execute(Effect.sync(() => starts.push(Date.now())))
      const results = yield* Effect.all(
        [a, b, a, b, a, b].map((optimizer) => Effect.result(call(optimizer))),
        { concurrency: "unbounded" }
      )
      expect(results.every(Result.isSuccess)).toBe(true)
      const sorted = [...starts].sort((x, y) => x - y)
      // 3 from the burst, then one per 2 s refill: the 4th start cannot come before the first refill.
      expect(sorted[3]! - sorted[0]!).toBeGreaterThanOrEqual(1_900)
      expect(sorted[5]! - sorted[0]!).toBeGreaterThanOrEqual(5_800)
    })
  )
})
