import { NodeHttpClient } from "@effect/platform-node"
import { Context, Effect, Layer, type Schema } from "effect"
import { AiOptimizer, type AiOptimizerShape } from "./AiOptimizer.ts"
import { AppConfig, type AiProviderName } from "../config/AppConfig.ts"
import type { ModelUnavailable, OptimizerRejection, ProviderFailure } from "./errors.ts"
import { HeuristicProvider } from "./HeuristicProvider.ts"
import { makeOpenAiProvider } from "./OpenAiProvider.ts"

export interface GenerateObjectRequest<A, I> {
  readonly system: string
  readonly prompt: string
  /** The reply is decoded with this Schema; a reply that does not fit is a `MalformedResponse`. */
  readonly schema: Schema.Codec<A, I>
}

export type LanguageModelError = ProviderFailure | ModelUnavailable | OptimizerRejection

export type Embedding = ReadonlyArray<number>

export interface LanguageModelShape {
  readonly provider: AiProviderName
  readonly generateObject: <A, I>(
    request: GenerateObjectRequest<A, I>
  ) => Effect.Effect<A, LanguageModelError>
  /** One vector per text, in the order of `texts`. */
  readonly embed: (
    texts: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Embedding>, LanguageModelError>
}

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
