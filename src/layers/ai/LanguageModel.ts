import { NodeHttpClient } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { AiOptimizer, type AiOptimizerShape } from "./AiOptimizer.ts"
import { AppConfig } from "../config/AppConfig.ts"
import { HeuristicProvider } from "./HeuristicProvider.ts"
import type { LanguageModelShape } from "./LanguageModelShape.ts"
import { makeOpenAiProvider } from "./OpenAiProvider.ts"

export type {
  Embedding,
  GenerateObjectRequest,
  LanguageModelError,
  LanguageModelShape
} from "./LanguageModelShape.ts"

export class LanguageModel extends Context.Service<LanguageModel, LanguageModelShape>()("LanguageModel") {}

/** Sends every call of `model` through the optimizer's breaker, limit, bulkhead, retries and deadline. */
export const optimized = (model: LanguageModelShape, optimizer: AiOptimizerShape): LanguageModelShape => ({
  provider: model.provider,
  generateObject: (request) => optimizer.execute(model.generateObject(request)),
  embed: (texts) => optimizer.execute(model.embed(texts))
})

/**
 * The built-in heuristic provider makes no calls, so it does not go through the optimizer: rate limiting
 * a local hash would only starve memory recall.
 */
export const LanguageModelHeuristic = Layer.succeed(LanguageModel, HeuristicProvider)

/** An OpenAI-compatible server, behind the optimizer. Needs an `HttpClient`. */
export const LanguageModelOpenAi = Layer.effect(
  LanguageModel,
  Effect.gen(function* () {
    const { ai } = yield* AppConfig
    const optimizer = yield* AiOptimizer
    const provider = yield* makeOpenAiProvider(ai)
    return optimized(provider, optimizer)
  })
)

/** The provider AI_PROVIDER names: the heuristic one by default, or an OpenAI-compatible server. */
export const LanguageModelLive = Layer.unwrap(
  Effect.map(AppConfig, ({ ai }) =>
    ai.provider === "openai"
      ? LanguageModelOpenAi.pipe(Layer.provide(NodeHttpClient.layerUndici))
      : LanguageModelHeuristic
  )
)
