import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Result, Schema } from "effect"
import { AiOptimizer, AiOptimizerLive, aiHealthCheck, makeAiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { EMBEDDING_DIMENSIONS, localEmbedding } from "../src/layers/ai/HeuristicProvider.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { LanguageModel, LanguageModelLive } from "../src/layers/ai/LanguageModel.ts"
import { makeCountingProvider, testConfig } from "./support/aiScript.ts"

const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) =>
  a.reduce((sum, x, i) => sum + x * b[i]!, 0)

const heuristicApp = LanguageModelLive.pipe(
  Layer.provideMerge(AiOptimizerLive),
  Layer.provideMerge(Health.layer),
  Layer.provideMerge(AppConfigTest())
)

describe("heuristic provider (the embedded default)", () => {
  it.layer(heuristicApp)("wired like the app", (it) => {
    it.effect(
      "generateObject fails at once with a typed ModelUnavailable so callers use their heuristic",
      () =>
        Effect.gen(function* () {
          const model = yield* LanguageModel
          expect(model.provider).toBe("heuristic")
          const result = yield* Effect.result(
            model.generateObject({ system: "s", prompt: "p", schema: Schema.String })
          )
          expect(Result.isFailure(result) && result.failure._tag).toBe("ModelUnavailable")
        })
    )

    it.effect("embed is local, deterministic and normalised; shared words mean closer vectors", () =>
      Effect.gen(function* () {
        const model = yield* LanguageModel
        const [report, reportAgain, draft, gym] = yield* model.embed([
          "Write the quarterly report",
          "Write the quarterly report",
          "Draft the quarterly report summary",
          "Go to the gym"
        ])
        expect(report).toHaveLength(EMBEDDING_DIMENSIONS)
        expect(report).toEqual(reportAgain)
        expect(cosine(report!, report!)).toBeCloseTo(1, 10)
        expect(cosine(report!, draft!)).toBeGreaterThan(cosine(report!, gym!))
        // Heuristic calls never pass through the optimizer's rate limit.
        expect((yield* (yield* AiOptimizer).stats).total).toBe(0)
      })
    )

    it.effect("the ai health component is registered, non-critical and healthy", () =>
      Effect.gen(function* () {
        const report = yield* (yield* Health).report
        expect(report.components.ai).toMatchObject({ status: "healthy", critical: false })
        expect(report.components.ai?.details).toMatchObject({ provider: "heuristic", breaker: "closed" })
      })
    )
  })

  it("the empty text embeds to the zero vector", () => {
    expect(localEmbedding("").every((x) => x === 0)).toBe(true)
  })
})

describe("ai health", () => {
  it.effect("is degraded, never unhealthy, while the breaker is open", () =>
    Effect.gen(function* () {
      const provider = yield* makeCountingProvider
      const optimizer = yield* makeAiOptimizer(testConfig())
      for (let i = 0; i < 5; i++) yield* Effect.result(optimizer.execute(provider.fail500))
      const health = yield* aiHealthCheck(optimizer, "openai")
      expect(health.status).toBe("degraded")
      expect(health.details).toMatchObject({ breaker: "open", trips: 1 })
    })
  )
})
