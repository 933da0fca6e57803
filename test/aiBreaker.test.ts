import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { makeAiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { defaultAiOptimizerConfig } from "../src/layers/ai/AiOptimizerConfig.ts"
import { eventually, makeCountingProvider, testConfig } from "./support/aiScript.ts"

const breaker = (overrides: Partial<typeof defaultAiOptimizerConfig.breaker> = {}) =>
  testConfig({ breaker: { ...defaultAiOptimizerConfig.breaker, ...overrides } })

const leftTag = <A, E extends { readonly _tag: string }>(either: Result.Result<A, E>) =>
  Result.isFailure(either) ? either.failure._tag : "success"

describe("AiOptimizer circuit breaker", () => {
  it.effect("5 consecutive failures open it; the 6th call fails fast without reaching the provider", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(breaker())
      for (let i = 0; i < 5; i++) {
        expect(leftTag(yield* Effect.result(optimizer.execute(provider.fail500)))).toBe("ProviderHttpError")
      }
      const sixth = yield* Effect.result(optimizer.execute(provider.ok("never")))
      expect(yield* provider.calls).toBe(5)
      expect(Result.isFailure(sixth) && sixth.failure._tag === "CircuitOpen").toBe(true)
      if (Result.isFailure(sixth) && sixth.failure._tag === "CircuitOpen") {
        expect(Duration.toMillis(sixth.failure.retryAfter)).toBe(5 * 60_000)
      }
      yield* TestClock.adjust("2 minutes")
      const later = yield* Effect.result(optimizer.execute(provider.ok("never")))
      if (Result.isFailure(later) && later.failure._tag === "CircuitOpen") {
        expect(Duration.toMillis(later.failure.retryAfter)).toBe(3 * 60_000)
      } else expect.fail("expected CircuitOpen")
      const stats = yield* optimizer.stats
      expect(stats.breaker.state).toBe("open")
      expect(stats.breaker.trips).toBe(1)
      expect(stats.rejections.circuit_open).toBe(2)
    })
  )

  it.effect("one success in between resets the count", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(breaker())
      for (let i = 0; i < 4; i++) yield* Effect.result(optimizer.execute(provider.fail500))
      yield* optimizer.execute(provider.ok(1))
      for (let i = 0; i < 4; i++) yield* Effect.result(optimizer.execute(provider.fail500))
      expect(yield* optimizer.execute(provider.ok(2))).toBe(2)
      expect(yield* provider.calls).toBe(10)
      expect((yield* optimizer.stats).breaker.state).toBe("closed")
    })
  )

  it.effect("faults of the request (400, malformed reply) and its own rejections never trip it", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(breaker())
      for (let i = 0; i < 10; i++) {
        yield* Effect.result(optimizer.execute(provider.fail400))
        yield* Effect.result(optimizer.execute(provider.malformed))
      }
      expect((yield* optimizer.stats).breaker.state).toBe("closed")
      // Open it, hammer it while open, then one successful probe must close it for good.
      for (let i = 0; i < 5; i++) yield* Effect.result(optimizer.execute(provider.fail500))
      for (let i = 0; i < 100; i++) yield* Effect.result(optimizer.execute(provider.ok(0)))
      yield* TestClock.adjust("5 minutes")
      expect(yield* optimizer.execute(provider.ok("probe"))).toBe("probe")
      // Had the 100 rejections counted, this single failure would reopen it.
      yield* Effect.result(optimizer.execute(provider.fail500))
      expect(yield* optimizer.execute(provider.ok("still closed"))).toBe("still closed")
      const stats = yield* optimizer.stats
      expect(stats.breaker.state).toBe("closed")
      expect(stats.breaker.trips).toBe(1)
    })
  )

  for (const probes of [1, 3]) {
    it.effect(`after 5 minutes, of 1,000 fibers arriving at once exactly ${probes} reach the provider`, () =>
      Effect.gen(function* () {
        const provider = yield* makeCountingProvider
        const optimizer = yield* makeAiOptimizer(breaker({ halfOpenProbes: probes }))
        for (let i = 0; i < 5; i++) yield* Effect.result(optimizer.execute(provider.fail500))
        yield* TestClock.adjust("5 minutes")
        // Forked from the test's fiber itself: in Effect 4 a fiber forked inside a concurrent `forEach`
        // is a child of that worker and is interrupted when the worker ends.
        const fibers = yield* Effect.forEach(Array.from({ length: 1000 }), () =>
          Effect.forkChild(Effect.result(optimizer.execute(provider.hang)))
        )
        yield* eventually(
          Effect.map(
            Effect.forEach(fibers, (fiber) => Effect.sync(() => fiber.pollUnsafe())),
            (polls) => polls.filter((poll) => poll !== undefined).length === 1000 - probes
          )
        )
        expect(yield* provider.calls).toBe(5 + probes)
        const rejected = (yield* Effect.forEach(fibers, (fiber) =>
          Effect.sync(() => fiber.pollUnsafe())
        )).flatMap((poll) =>
          poll !== undefined && poll._tag === "Success" && Result.isFailure(poll.value)
            ? [poll.value.failure]
            : []
        )
        expect(rejected).toHaveLength(1000 - probes)
        for (const error of rejected) {
          expect(error._tag).toBe("CircuitOpen")
          // The probes' verdict is due when their timeout runs out: that is when to come back.
          if (error._tag === "CircuitOpen") expect(Duration.toMillis(error.retryAfter)).toBe(30_000)
        }
        expect((yield* optimizer.stats).breaker.state).toBe("half_open")

        // The hung probes are timed out; the breaker reopens instead of sticking half-open.
        yield* TestClock.adjust("30 seconds")
        const results = yield* Effect.forEach(fibers, Fiber.join)
        expect(results.filter((r) => leftTag(r) === "ProviderTimeout")).toHaveLength(probes)
        const stats = yield* optimizer.stats
        expect(stats.breaker.state).toBe("open")
        expect(stats.breaker.trips).toBe(2)
        const next = yield* Effect.result(optimizer.execute(provider.ok(0)))
        if (Result.isFailure(next) && next.failure._tag === "CircuitOpen") {
          expect(Duration.toMillis(next.failure.retryAfter)).toBe(5 * 60_000)
        } else expect.fail("expected CircuitOpen")
        expect(yield* provider.calls).toBe(5 + probes)
      })
    )
  }

  it.effect("a failed probe reopens it for another 5 minutes; a successful one closes it", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(breaker())
      for (let i = 0; i < 5; i++) yield* Effect.result(optimizer.execute(provider.fail500))
      yield* TestClock.adjust("5 minutes")
      expect(leftTag(yield* Effect.result(optimizer.execute(provider.failConnection)))).toBe(
        "ProviderConnectionError"
      )
      expect(leftTag(yield* Effect.result(optimizer.execute(provider.ok(0))))).toBe("CircuitOpen")
      yield* TestClock.adjust("4 minutes")
      expect(leftTag(yield* Effect.result(optimizer.execute(provider.ok(0))))).toBe("CircuitOpen")
      yield* TestClock.adjust("1 minute")
      expect(yield* optimizer.execute(provider.ok("closed"))).toBe("closed")
      expect((yield* optimizer.stats).breaker.state).toBe("closed")
      expect(yield* provider.calls).toBe(7)
    })
  )

  it.effect("an interrupted probe hands its turn to the next caller instead of wedging half-open", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(breaker())
      for (let i = 0; i < 5; i++) yield* Effect.result(optimizer.execute(provider.fail500))
      yield* TestClock.adjust("5 minutes")
      const probe = yield* Effect.forkChild(optimizer.execute(provider.hang))
      yield* eventually(Effect.map(provider.calls, (n) => n === 6))
      yield* Fiber.interrupt(probe)
      expect(yield* optimizer.execute(provider.ok("next probe"))).toBe("next probe")
      expect((yield* optimizer.stats).breaker.state).toBe("closed")
    })
  )

  it.effect("failure-rate mode trips on the share of failures once the window has enough calls", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(
        breaker({ failureRate: Option.some({ ratio: 0.5, windowMillis: 60_000, minThroughput: 10 }) })
      )
      // Alternating: never 5 in a row, but half of them fail.
      for (let i = 0; i < 9; i++) {
        yield* Effect.result(optimizer.execute(i % 2 === 0 ? provider.ok(i) : provider.fail500))
      }
      expect((yield* optimizer.stats).breaker.state).toBe("closed")
      yield* Effect.result(optimizer.execute(provider.fail500))
      expect((yield* optimizer.stats).breaker.state).toBe("open")
    })
  )

  it.effect("failure-rate mode forgets calls older than its window", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(
        breaker({ failureRate: Option.some({ ratio: 0.5, windowMillis: 60_000, minThroughput: 10 }) })
      )
      for (let i = 0; i < 9; i++) {
        yield* Effect.result(optimizer.execute(i % 2 === 0 ? provider.ok(i) : provider.fail500))
      }
      yield* TestClock.adjust("61 seconds")
      yield* Effect.result(optimizer.execute(provider.fail500))
      expect((yield* optimizer.stats).breaker.state).toBe("closed")
    })
  )
})
