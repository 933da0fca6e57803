import { Clock, Effect, Option, type Redacted, Schema } from "effect"
import { HttpClient, type HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import type { LanguageModelShape } from "./LanguageModelShape.ts"
import { withSpan } from "../observability/spans.ts"
import { MalformedResponse, ProviderConnectionError, ProviderHttpError, parseRetryAfter } from "./errors.ts"

export interface OpenAiSettings {
  readonly baseUrl: string
  readonly model: string
  readonly embeddingModel: string
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
}

const ChatCompletion = Schema.fromJsonString(
  Schema.Struct({
    choices: Schema.NonEmptyArray(
      Schema.Struct({ message: Schema.Struct({ content: Schema.NullOr(Schema.String) }) })
    )
  })
)

const Embeddings = Schema.fromJsonString(
  Schema.Struct({
    data: Schema.Array(Schema.Struct({ index: Schema.Int, embedding: Schema.Array(Schema.Number) }))
  })
)

const malformed = (what: string) => (error: Schema.SchemaError) =>
  new MalformedResponse({ message: `${what}: ${error.message.slice(0, 500)}` })

/** Schemas with declarations have no JSON Schema; the caller's system prompt then has to say it. */
const describeShape = <A, I>(schema: Schema.Codec<A, I>): string => {
  try {
    const document = Schema.toJsonSchemaDocument(schema)
    const jsonSchema =
      Object.keys(document.definitions).length === 0
        ? document.schema
        : { ...document.schema, $defs: document.definitions }
    return `\n\nAnswer with one JSON value matching this JSON Schema:\n${JSON.stringify(jsonSchema)}`
  } catch {
    return "\n\nAnswer with one JSON value."
  }
}

/**
 * The chat-completions and embeddings protocol that OpenAI and local servers (Ollama, vLLM, llama.cpp,
 * LM Studio) share. Only the wire is handled here; timeouts, retries and limits are the optimizer's.
 * The key travels as a bearer token built from the `Redacted` value, and `Authorization` is among the
 * headers the platform redacts when it logs or traces a request.
 */
export const makeOpenAiProvider = (settings: OpenAiSettings) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const base = settings.baseUrl.replace(/\/+$/, "")

    const toConnectionError = (error: HttpClientError.HttpClientError) =>
      new ProviderConnectionError({ message: error.message })

    const failOnStatus = (response: HttpClientResponse.HttpClientResponse) =>
      Effect.gen(function* () {
        const body = yield* response.text.pipe(Effect.orElseSucceed(() => ""))
        const now = yield* Clock.currentTimeMillis
        const retryAfter = parseRetryAfter(response.headers["retry-after"], now)
        return yield* new ProviderHttpError({
          status: response.status,
          message: `provider answered ${response.status}: ${body.slice(0, 300)}`,
          ...(retryAfter === undefined ? {} : { retryAfter })
        })
      })

    const post = (
      path: string,
      body: unknown
    ): Effect.Effect<string, ProviderConnectionError | ProviderHttpError> => {
      const request = HttpClientRequest.post(`${base}${path}`).pipe(
        HttpClientRequest.acceptJson,
        HttpClientRequest.bodyJsonUnsafe(body)
      )
      return client
        .execute(
          Option.match(settings.apiKey, {
            onNone: () => request,
            onSome: (key) => HttpClientRequest.bearerToken(request, key)
          })
        )
        .pipe(
          Effect.mapError(toConnectionError),
          Effect.flatMap(
            (response): Effect.Effect<string, ProviderConnectionError | ProviderHttpError> =>
              response.status >= 200 && response.status < 300
                ? Effect.mapError(response.text, toConnectionError)
                : failOnStatus(response)
          )
        )
    }

    const provider: LanguageModelShape = {
      provider: "openai",
      generateObject: ({ system, prompt, schema }) =>
        Effect.gen(function* () {
          const text = yield* post("/chat/completions", {
            model: settings.model,
            response_format: { type: "json_object" },
            messages: [
              {
                role: "system",
                content: `${system}${describeShape(schema)}`
              },
              { role: "user", content: prompt }
            ]
          })
          const completion = yield* Schema.decodeUnknownEffect(ChatCompletion)(text).pipe(
            Effect.mapError(malformed("not a chat completion"))
          )
          const content = completion.choices[0].message.content ?? ""
          return yield* Schema.decodeUnknownEffect(Schema.fromJsonString(schema))(content).pipe(
            Effect.mapError(malformed("the model's answer does not match the schema"))
          )
        }).pipe(withSpan("LanguageModel.generateObject", { attributes: { model: settings.model } })),
      embed: (texts) =>
        Effect.gen(function* () {
          if (texts.length === 0) return []
          const text = yield* post("/embeddings", { model: settings.embeddingModel, input: texts })
          const { data } = yield* Schema.decodeUnknownEffect(Embeddings)(text).pipe(
            Effect.mapError(malformed("not an embeddings response"))
          )
          const ordered = [...data].sort((a, b) => a.index - b.index)
          if (ordered.length !== texts.length || ordered.some((item, i) => item.index !== i)) {
            return yield* new MalformedResponse({
              message: `expected ${texts.length} embeddings, got indices ${ordered.map((item) => item.index).join(",")}`
            })
          }
          return ordered.map((item) => item.embedding)
        }).pipe(withSpan("LanguageModel.embed", { attributes: { model: settings.embeddingModel } }))
    }
    return provider
  })
