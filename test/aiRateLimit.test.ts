import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Ref, Result } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import { makeAiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { defaultAiOptimizerConfig } from "../src/layers/ai/AiOptimizerConfig.ts"
import {
  type Bucket,
  cancel,
  type RateLimitConfig,
  refillMillis,
  reserve
} from "../src/layers/ai/RateLimit.ts"
import { eventually, testConfig } from "./support/aiScript.ts"

const seedLimit = defaultAiOptimizerConfig.rateLimit
const withLimit = (overrides: Partial<RateLimitConfig> = {}) =>
  testConfig({ rateLimit: { ...seedLimit, ...overrides } })

/** The most starts in any half-open window [t, t + window); the busiest window always opens on a start. */
const busiestWindow = (starts: ReadonlyArray<number>, windowMillis: number) => {
  const sorted = [...starts].sort((a, b) => a - b)
  let max = 0
  for (const [i, from] of sorted.entries()) {
    let count = 0
    for (let j = i; j < sorted.length && sorted[j]! < from + windowMillis; j++) count++
    max = Math.max(max, count)
  }
  return max
}

describe("AiOptimizer rate limit", () => {
  it.effect("over any 60 s window never more than 10 calls start, boundaries included", () =>
    Effect.gen(function* () {
      const optimizer = yield* makeAiOptimizer(withLimit({ maxWaitMillis: 10 * 60_000 }))
      const starts = yield* Ref.make<ReadonlyArray<number>>([])
      const call = optimizer.execute(
        Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(starts, (all) => [...all, now]))
      )
      const fibers = yield* Effect.forEach(Array.from({ length: 40 }), () => Effect.forkChild(call))
      // TestClock wakes each sleeper at its own instant, so starts are recorded exactly.
      for (let elapsed = 0; elapsed < 6 * 60_000; elapsed += 2_000) yield* TestClock.adjust("2 seconds")
      yield* Effect.forEach(fibers, Fiber.join)
      const recorded = yield* Ref.get(starts)
      expect(recorded).toHaveLength(40)
      // Rounding the refill interval up may cost one start per window, never add one.
      const busiest = busiestWindow(recorded, 60_000)
      expect(busiest).toBeLessThanOrEqual(10)
      expect(busiest).toBeGreaterThanOrEqual(9)
      // Every 11th start lies at least a full window after the one 10 places before it.
      const sorted = [...recorded].sort((a, b) => a - b)
      expect(sorted[10]! - sorted[0]!).toBeGreaterThanOrEqual(60_000)
      for (let i = 10; i < sorted.length; i++)
        expect(sorted[i]! - sorted[i - 10]!).toBeGreaterThanOrEqual(60_000)
    })
  )

  it.effect("waiting callers are released one by one as tokens refill, in arrival order", () =>
    Effect.gen(function* () {
      const optimizer = yield* makeAiOptimizer(withLimit({ maxWaitMillis: 10 * 60_000 }))
      const started = yield* Ref.make<ReadonlyArray<number>>([])
      const fibers = yield* Effect.forEach(
        Array.from({ length: 6 }, (_, i) => i),
        (i) => Effect.forkChild(optimizer.execute(Ref.update(started, (all) => [...all, i])))
      )
      yield* eventually(Effect.map(Ref.get(started), (all) => all.length === 3))
      const interval = refillMillis(seedLimit)
      expect((yield* optimizer.stats).queueDepth).toBe(3)
      yield* TestClock.adjust(Duration.millis(interval - 1))
      expect(yield* Ref.get(started)).toEqual([0, 1, 2])
      yield* TestClock.adjust("1 millis")
      yield* eventually(Effect.map(Ref.get(started), (all) => all.length === 4))
      expect(yield* Ref.get(started)).toEqual([0, 1, 2, 3])
      yield* TestClock.adjust(Duration.millis(interval))
      yield* eventually(Effect.map(Ref.get(started), (all) => all.length === 5))
      expect(yield* Ref.get(started)).toEqual([0, 1, 2, 3, 4])
      yield* TestClock.adjust(Duration.millis(interval))
      yield* Effect.forEach(fibers, Fiber.join)
      expect(yield* Ref.get(started)).toEqual([0, 1, 2, 3, 4, 5])
    })
  )

  it.effect(
    "a caller whose turn is further than its wait bound gets RateLimited with the right retryAfter",
    () =>
      Effect.gen(function* () {
        const optimizer = yield* makeAiOptimizer(withLimit({ maxWaitMillis: 10_000 }))
        const interval = refillMillis(seedLimit)
        for (let i = 0; i < 3; i++) yield* optimizer.execute(Effect.void)
        const fourth = yield* Effect.forkChild(optimizer.execute(Effect.succeed("fourth")))
        yield* eventually(Effect.map(optimizer.stats, (s) => s.queueDepth === 1))
        const fifth = yield* Effect.result(optimizer.execute(Effect.succeed("fifth")))
        if (Result.isFailure(fifth) && fifth.failure._tag === "RateLimited") {
          expect(Duration.toMillis(fifth.failure.retryAfter)).toBe(2 * interval)
        } else expect.fail("expected RateLimited")
        yield* TestClock.adjust(Duration.millis(interval))
        expect(yield* Fiber.join(fourth)).toBe("fourth")
        // The rejected caller reserved nothing: the next turn is one interval away, not two.
        const next = yield* Effect.forkChild(optimizer.execute(Effect.succeed("next")))
        yield* TestClock.adjust(Duration.millis(interval))
        expect(yield* Fiber.join(next)).toBe("next")
        const stats = yield* optimizer.stats
        expect(stats.rejections.rate_limited).toBe(1)
        expect(stats.successes).toBe(5)
      })
  )

  it.effect("an interrupted waiter gives its turn back", () =>
    Effect.gen(function* () {
      const optimizer = yield* makeAiOptimizer(withLimit({ maxWaitMillis: 10 * 60_000 }))
      const interval = refillMillis(seedLimit)
      for (let i = 0; i < 3; i++) yield* optimizer.execute(Effect.void)
      const waiters = yield* Effect.forEach(Array.from({ length: 5 }), () =>
        Effect.forkChild(optimizer.execute(Effect.void))
      )
      yield* eventually(Effect.map(optimizer.stats, (s) => s.queueDepth === 5))
      yield* Effect.forEach(waiters, Fiber.interrupt)
      expect((yield* optimizer.stats).queueDepth).toBe(0)
      const next = yield* Effect.forkChild(optimizer.execute(Effect.succeed("next")))
      yield* TestClock.adjust(Duration.millis(interval))
      expect(yield* Fiber.join(next)).toBe("next")
    })
  )

  it("property: whatever arrives, waits or gives up, no window ever holds more than the limit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 12 }),
        fc.integer({ min: 1, max: 11 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 20_000 }),
            maxWait: fc.integer({ min: 0, max: 120_000 }),
            cancelAfter: fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined })
          }),
          { maxLength: 80 }
        ),
        (limit, burstSeed, arrivals) => {
          const burst = Math.min(burstSeed, limit - 1)
          let bucket: Bucket = { tokens: burst, lastRefill: 0 }
          let now = 0
          const pending: Array<{ startAt: number; cancelAt: number | undefined; cancelled: boolean }> = []
          for (const arrival of arrivals) {
            now += arrival.gap
            // Waiters whose cancellation falls before `now` and before their start give their turn back.
            for (const turn of pending) {
              if (
                !turn.cancelled &&
                turn.cancelAt !== undefined &&
                turn.cancelAt <= now &&
                turn.cancelAt < turn.startAt
              ) {
                turn.cancelled = true
                bucket = cancel(bucket, { limit, burst, windowMillis: 60_000, maxWaitMillis: 0 })
              }
            }
            const config = { limit, burst, windowMillis: 60_000, maxWaitMillis: arrival.maxWait }
            const [turn, next] = reserve(bucket, now, config)
            bucket = next
            if ("startAt" in turn) {
              expect(turn.startAt - now).toBeLessThanOrEqual(arrival.maxWait)
              pending.push({
                startAt: turn.startAt,
                cancelAt: arrival.cancelAfter === undefined ? undefined : now + arrival.cancelAfter,
                cancelled: false
              })
            } else expect(turn.retryAfterMillis).toBeGreaterThan(arrival.maxWait)
          }
          const starts = pending.filter((turn) => !turn.cancelled).map((turn) => turn.startAt)
          expect(busiestWindow(starts, 60_000)).toBeLessThanOrEqual(limit)
        }
      ),
      { numRuns: 500 }
    )
  })
})
