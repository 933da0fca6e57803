import type { Effect, Schema } from "effect"
import type { AiProviderName } from "../config/AppConfig.ts"
import type { ModelUnavailable, OptimizerRejection, ProviderFailure } from "./errors.ts"

/*
 * What a language model is, apart from the service that provides one: the providers implement this
 * shape without importing the façade (`LanguageModel.ts`) that chooses among them.
 */

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
