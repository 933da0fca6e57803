import { type Result, Schema } from "effect"

export interface JsonCodec<A> {
  readonly encode: (value: A) => Result.Result<string, Schema.SchemaError>
  readonly decode: (json: string) => Result.Result<A, Schema.SchemaError>
}

// Composing the JSON codec is not free; schemas are long-lived values, so one codec per schema object.
const codecs = new WeakMap<object, JsonCodec<unknown>>()

/**
 * Values cross tiers as the JSON of their Schema-encoded form: plain data, never a format that runs code
 * on read, and a Date or a branded id decodes back to itself. `toCodecJson` gives declarations such as
 * `Schema.Date` (a Date on both sides in Effect 4) their JSON form, an ISO string.
 */
export const jsonCodec = <A, I>(schema: Schema.Codec<A, I>): JsonCodec<A> => {
  const known = codecs.get(schema)
  // Keyed by the schema object itself, so the stored codec is the one made for this `A`.
  if (known !== undefined) return known as JsonCodec<A>
  const json = Schema.fromJsonString(Schema.toCodecJson(schema))
  const codec: JsonCodec<A> = {
    encode: Schema.encodeResult(json),
    decode: Schema.decodeUnknownResult(json)
  }
  codecs.set(schema, codec as JsonCodec<unknown>)
  return codec
}
