import { Effect, Ref } from "effect"
import { MalformedResponse, ProviderConnectionError, ProviderHttpError } from "../../src/layers/ai/errors.ts"
import type { AiOptimizerConfig } from "../../src/layers/ai/AiOptimizerConfig.ts"
import { defaultAiOptimizerConfig } from "../../src/layers/ai/AiOptimizerConfig.ts"

/** An in-process stand-in for the provider, for tests that run on the TestClock. */
export const makeCountingProvider = Effect.gen(function* () {
  const calls = yield* Ref.make(0)
  const inFlight = yield* Ref.make(0)
  const maxInFlight = yield* Ref.make(0)
  const track = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.andThen(
      Ref.update(calls, (n) => n + 1).pipe(
        Effect.andThen(Ref.updateAndGet(inFlight, (n) => n + 1)),
        Effect.flatMap((now) => Ref.update(maxInFlight, (max) => Math.max(max, now)))
      ),
      Effect.ensuring(
        effect,
        Ref.update(inFlight, (n) => n - 1)
      )
    )
  return {
    calls: Ref.get(calls),
    inFlight: Ref.get(inFlight),
    maxInFlight: Ref.get(maxInFlight),
    ok: <A>(value: A) => track(Effect.succeed(value)),
    fail500: track(Effect.fail(new ProviderHttpError({ status: 500, message: "boom" }))),
    fail400: track(Effect.fail(new ProviderHttpError({ status: 400, message: "bad request" }))),
    failConnection: track(Effect.fail(new ProviderConnectionError({ message: "ECONNREFUSED" }))),
    malformed: track(Effect.fail(new MalformedResponse({ message: "not JSON" }))),
    hang: track(Effect.never),
    custom: <A, E>(effect: Effect.Effect<A, E>) => track(effect)
  }
})

/** Cycles the scheduler until `condition` holds, for forked fibers that never touch the clock. */
export const eventually = (condition: Effect.Effect<boolean>, rounds = 10_000): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let i = 0; i < rounds; i++) {
      if (yield* condition) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error("condition never held"))
  })

/** Defaults of the seed with one policy isolated: the others are made wide enough not to interfere. */
export const testConfig = (overrides: Partial<AiOptimizerConfig> = {}): AiOptimizerConfig => ({
  ...defaultAiOptimizerConfig,
  rateLimit: { limit: 100_000, windowMillis: 60_000, burst: 50_000, maxWaitMillis: 60_000 },
  bulkhead: { maxConcurrent: 10_000, maxQueue: 10_000 },
  retry: { ...defaultAiOptimizerConfig.retry, maxRetries: 0 },
  deadlineMillis: 24 * 3_600_000,
  ...overrides
})
