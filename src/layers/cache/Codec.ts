import { type Either, Schema } from "effect"
import type { ParseError } from "effect/ParseResult"

export interface JsonCodec<A> {
  readonly encode: (value: A) => Either.Either<string, ParseError>
  readonly decode: (json: string) => Either.Either<A, ParseError>
}

// Composing parseJson is not free; schemas are long-lived values, so one codec per schema object.
const codecs = new WeakMap<object, JsonCodec<unknown>>()

/**
 * Values cross tiers as the JSON of their Schema-encoded form: plain data, never a format that runs code
 * on read, and a Date or a branded id decodes back to itself.
 */
export const jsonCodec = <A, I>(schema: Schema.Schema<A, I, never>): JsonCodec<A> => {
  const known = codecs.get(schema)
  if (known !== undefined) return known as JsonCodec<A>
  const json = Schema.parseJson(schema)
  const codec: JsonCodec<A> = {
    encode: Schema.encodeEither(json),
    decode: Schema.decodeUnknownEither(json)
  }
  codecs.set(schema, codec as JsonCodec<unknown>)
  return codec
}
