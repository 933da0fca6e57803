import { describe, expect, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Fiber, Ref, Result } from "effect"
import { TestClock } from "effect/testing"
import { makeAiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { defaultAiOptimizerConfig } from "../src/layers/ai/AiOptimizerConfig.ts"
import { ProviderHttpError } from "../src/layers/ai/errors.ts"
import { eventually, makeCountingProvider, testConfig } from "./support/aiScript.ts"

const seedBulkhead = defaultAiOptimizerConfig.bulkhead

describe("AiOptimizer bulkhead", () => {
  it.effect("at most 3 calls in flight; a full queue rejects with BulkheadFull", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(testConfig({ bulkhead: { maxConcurrent: 3, maxQueue: 5 } }))
      const gate = yield* Deferred.make<void>()
      const fibers = yield* Effect.forEach(Array.from({ length: 10 }), () =>
        Effect.forkChild(Effect.result(optimizer.execute(provider.custom(Deferred.await(gate)))))
      )
      yield* eventually(Effect.map(optimizer.stats, (s) => s.rejections.bulkhead_full === 2))
      const stats = yield* optimizer.stats
      expect(stats.inFlight).toBe(3)
      expect(stats.queueDepth).toBe(5)
      expect(yield* provider.inFlight).toBe(3)
      yield* Deferred.succeed(gate, undefined)
      const results = yield* Effect.forEach(fibers, Fiber.join)
      expect(results.filter(Result.isSuccess)).toHaveLength(8)
      expect(results.filter((r) => Result.isFailure(r) && r.failure._tag === "BulkheadFull")).toHaveLength(2)
      expect(yield* provider.maxInFlight).toBe(3)
    })
  )

  it.effect("interrupting 100 queued callers returns the bulkhead to full capacity", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(testConfig({ bulkhead: { maxConcurrent: 3, maxQueue: 100 } }))
      const gate = yield* Deferred.make<void>()
      const holders = yield* Effect.forEach(Array.from({ length: 3 }), () =>
        Effect.forkChild(optimizer.execute(provider.custom(Deferred.await(gate))))
      )
      const queued = yield* Effect.forEach(Array.from({ length: 100 }), () =>
        Effect.forkChild(optimizer.execute(provider.ok("queued")))
      )
      yield* eventually(Effect.map(optimizer.stats, (s) => s.queueDepth === 100))
      yield* Effect.forEach(queued, Fiber.interrupt, { concurrency: "unbounded" })
      expect((yield* optimizer.stats).queueDepth).toBe(0)
      yield* Deferred.succeed(gate, undefined)
      yield* Effect.forEach(holders, Fiber.join)
      expect((yield* optimizer.stats).inFlight).toBe(0)
      // Full capacity again: 3 run at once and 100 more fit in the queue, none rejected.
      const again = yield* Deferred.make<void>()
      const next = yield* Effect.forEach(Array.from({ length: 103 }), () =>
        Effect.forkChild(Effect.result(optimizer.execute(provider.custom(Deferred.await(again)))))
      )
      yield* eventually(Effect.map(optimizer.stats, (s) => s.inFlight === 3 && s.queueDepth === 100))
      yield* Deferred.succeed(again, undefined)
      const results = yield* Effect.forEach(next, Fiber.join)
      expect(results.every(Result.isSuccess)).toBe(true)
      expect(yield* provider.calls).toBe(3 + 103)
    })
  )

  it.effect("a waiter interrupted just as a slot is handed to it passes the slot on", () =>
    Effect.gen(function* () {
      const optimizer = yield* makeAiOptimizer(testConfig({ bulkhead: { maxConcurrent: 1, maxQueue: 10 } }))
      for (let round = 0; round < 200; round++) {
        const gate = yield* Deferred.make<void>()
        const holder = yield* Effect.forkChild(optimizer.execute(Deferred.await(gate)))
        yield* eventually(Effect.map(optimizer.stats, (s) => s.inFlight === 1))
        const waiter = yield* Effect.forkChild(optimizer.execute(Effect.void))
        yield* eventually(Effect.map(optimizer.stats, (s) => s.queueDepth === 1))
        // Race the hand-over against the interruption, with a varying head start.
        yield* Effect.all([Deferred.succeed(gate, undefined), Fiber.interrupt(waiter)], {
          concurrency: "unbounded"
        }).pipe(Effect.delay(Duration.zero))
        yield* Fiber.join(holder)
        yield* Fiber.await(waiter)
        const stats = yield* optimizer.stats
        expect(stats.inFlight).toBe(0)
        expect(stats.queueDepth).toBe(0)
      }
      expect(seedBulkhead.maxConcurrent).toBe(3)
    })
  )
})

const withRetries = (maxRetries: number) =>
  testConfig({ retry: { maxRetries, baseDelayMillis: 500, maxDelayMillis: 2_000 } })

describe("AiOptimizer retry", () => {
  for (const status of [429, 503]) {
    it.effect(`a ${status} with Retry-After: 7 delays the next attempt by at least 7 s`, () =>
      Effect.gen(function* () {
        const provider = yield* makeCountingProvider
        const optimizer = yield* makeAiOptimizer(withRetries(3))
        const attempts = yield* Ref.make(0)
        const attempt = provider.custom(
          Effect.flatMap(
            Ref.getAndUpdate(attempts, (n) => n + 1),
            (n) =>
              n === 0
                ? Effect.fail(
                    new ProviderHttpError({ status, message: "slow down", retryAfter: Duration.seconds(7) })
                  )
                : Effect.succeed("answer")
          )
        )
        const fiber = yield* Effect.forkChild(optimizer.execute(attempt))
        yield* eventually(Effect.map(provider.calls, (n) => n === 1))
        yield* TestClock.adjust("6999 millis")
        expect(yield* provider.calls).toBe(1)
        yield* TestClock.adjust("1 millis")
        expect(yield* Fiber.join(fiber)).toBe("answer")
        expect(yield* provider.calls).toBe(2)
      })
    )
  }

  it.effect("a malformed reply and a 400 are not retried", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(withRetries(3))
      const malformed = yield* Effect.result(optimizer.execute(provider.malformed))
      expect(Result.isFailure(malformed) && malformed.failure._tag).toBe("MalformedResponse")
      const badRequest = yield* Effect.result(optimizer.execute(provider.fail400))
      expect(Result.isFailure(badRequest) && badRequest.failure._tag).toBe("ProviderHttpError")
      expect(yield* provider.calls).toBe(2)
    })
  )

  it.effect("retryable faults back off exponentially with jitter, capped, then give up", () =>
    Effect.gen(function* () {
      const base = withRetries(5)
      const optimizer = yield* makeAiOptimizer({
        ...base,
        breaker: { ...base.breaker, consecutiveFailures: 100 }
      })
      const times = yield* Ref.make<ReadonlyArray<number>>([])
      const attempt = Effect.andThen(
        Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(times, (all) => [...all, now])),
        Effect.fail(new ProviderHttpError({ status: 502, message: "bad gateway" }))
      )
      const fiber = yield* Effect.forkChild(Effect.result(optimizer.execute(attempt)))
      for (let i = 0; i < 40; i++) yield* TestClock.adjust("500 millis")
      const result = yield* Fiber.join(fiber)
      expect(Result.isFailure(result) && result.failure._tag).toBe("ProviderHttpError")
      const recorded = yield* Ref.get(times)
      expect(recorded).toHaveLength(6)
      const gaps = recorded.slice(1).map((t, i) => t - recorded[i]!)
      // 500 ms · 2^n, jittered by ±20 %, never above the 2 s cap.
      expect(gaps[0]).toBeGreaterThanOrEqual(400)
      expect(gaps[0]).toBeLessThanOrEqual(600)
      expect(gaps[1]).toBeGreaterThanOrEqual(800)
      expect(gaps[1]).toBeLessThanOrEqual(1_200)
      for (const gap of gaps.slice(2)) {
        expect(gap).toBeGreaterThanOrEqual(1_600)
        expect(gap).toBeLessThanOrEqual(2_000)
      }
    })
  )

  it.effect("a hung attempt times out after 30 s and is retried", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(withRetries(1))
      const attempts = yield* Ref.make(0)
      const attempt = provider.custom(
        Effect.flatMap(
          Ref.getAndUpdate(attempts, (n) => n + 1),
          (n) => (n === 0 ? Effect.never : Effect.succeed("second"))
        )
      )
      const fiber = yield* Effect.forkChild(optimizer.execute(attempt))
      yield* eventually(Effect.map(provider.calls, (n) => n === 1))
      yield* TestClock.adjust("29999 millis")
      expect(yield* provider.calls).toBe(1)
      yield* TestClock.adjust("1 millis")
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(fiber)).toBe("second")
    })
  )

  it.effect("the overall deadline ends the call, retries and all", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer({ ...withRetries(10), deadlineMillis: 45_000 })
      const fiber = yield* Effect.forkChild(Effect.result(optimizer.execute(provider.hang)))
      yield* eventually(Effect.map(provider.calls, (n) => n === 1))
      yield* TestClock.adjust("44 seconds")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const result = yield* Fiber.join(fiber)
      if (Result.isFailure(result) && result.failure._tag === "DeadlineExceeded") {
        expect(Duration.toMillis(result.failure.after)).toBe(45_000)
      } else expect.fail("expected DeadlineExceeded")
      expect(yield* provider.calls).toBe(2)
      const stats = yield* optimizer.stats
      expect(stats.rejections.deadline_exceeded).toBe(1)
      expect(stats.inFlight).toBe(0)
    })
  )
})
