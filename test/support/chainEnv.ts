import { NodeHttpClient } from "@effect/platform-node"
import { Effect, type Fiber, Layer, Option, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { AiOptimizer, makeAiOptimizer } from "../../src/layers/ai/AiOptimizer.ts"
import type { AiOptimizerConfig } from "../../src/layers/ai/AiOptimizerConfig.ts"
import { makeOpenAiProvider } from "../../src/layers/ai/OpenAiProvider.ts"
import { AppConfigTest } from "../../src/layers/config/AppConfig.ts"
import { Cache, makeCache } from "../../src/layers/cache/Cache.ts"
import { EventStoreSqliteMemory } from "../../src/layers/eventstore/EventStoreSqlite.ts"
import { LanguageModel, type LanguageModelShape, optimized } from "../../src/layers/ai/LanguageModel.ts"
import { Metrics } from "../../src/layers/observability/Metrics.ts"
import { testConfig } from "./aiScript.ts"
import type { FakeProvider } from "./fakeProvider.ts"

/** One reply that fits every built-in chain's output Schema (decoding ignores the other fields). */
export const universalAnswer = {
  blocks: [
    {
      title: "Outline",
      objectives: ["list sections"],
      duration_minutes: 30,
      success_criteria: ["outline saved"]
    },
    { title: "Draft", objectives: ["write"], duration_minutes: 30, success_criteria: ["draft saved"] }
  ],
  complexity_score: 6,
  recommendations: ["mute chat"],
  difficulty: "medium",
  estimated_time: 70,
  required_skills: ["writing"],
  obstacles: ["interruptions"],
  success_probability: 0.8,
  time_adjustment_factor: 1.1,
  message: "Model says: go!",
  tone: "energizing",
  suggested_actions: ["start"],
  follow_up_minutes: 60,
  is_valid: true,
  confidence: 0.9,
  notes: "convincing",
  suggestions: [],
  requires_manual_review: false
}

/** Cache (L1 only, its own prefix), an in-memory event store and the metrics registry. */
export const infraLayer = () =>
  Layer.mergeAll(
    Layer.effect(Cache, makeCache({ prefix: `test-${randomUUID()}:`, ttlJitter: 0 })),
    EventStoreSqliteMemory.pipe(Layer.orDie),
    Metrics.layer
  ).pipe(Layer.provideMerge(AppConfigTest()))

/** The OpenAI-compatible provider pointed at the loopback fake, behind a real optimizer. */
export const fakeModelLayer = (server: FakeProvider, config: AiOptimizerConfig = fastOptimizer()) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const client = yield* Layer.build(NodeHttpClient.layerUndici)
      const provider = yield* Effect.provide(
        makeOpenAiProvider({
          baseUrl: server.baseUrl,
          model: "fake-model",
          embeddingModel: "fake-embedding",
          apiKey: Option.some(Redacted.make("sk-test"))
        }),
        client
      )
      const optimizer = yield* makeAiOptimizer(config)
      return Layer.merge(
        Layer.succeed(LanguageModel, optimized(provider, optimizer)),
        Layer.succeed(AiOptimizer, optimizer)
      )
    })
  )

/** An in-process provider behind a real optimizer, for tests on the TestClock. */
export const scriptedModelLayer = (model: LanguageModelShape, config: AiOptimizerConfig = fastOptimizer()) =>
  Layer.unwrap(
    Effect.map(makeAiOptimizer(config), (optimizer) =>
      Layer.merge(
        Layer.succeed(LanguageModel, optimized(model, optimizer)),
        Layer.succeed(AiOptimizer, optimizer)
      )
    )
  )

/** Seed breaker (5 failures, 5 min), a wide limit and bulkhead, quick retries. */
export const fastOptimizer = (overrides: Partial<AiOptimizerConfig> = {}) =>
  testConfig({
    retry: { maxRetries: 2, baseDelayMillis: 10, maxDelayMillis: 50 },
    attemptTimeoutMillis: 5_000,
    ...overrides
  })

/** The fiber's exit if it is done, without waiting (v3's `Fiber.poll`; v4 only has `fiber.pollUnsafe()`). */
export const pollFiber = <A, E>(fiber: Fiber.Fiber<A, E>) =>
  Effect.sync(() => Option.fromUndefinedOr(fiber.pollUnsafe()))
