import { ParseResult, Schema } from "effect"

/**
 * A struct schema whose `make` validates with a parser compiled once.
 *
 * `Struct.make` (and `TaggedStruct.make`) validates through `ParseResult.validateSync(schema)`, which
 * derives the schema's type side (`SchemaAST.typeAST`) on every call. For a struct with a transformed
 * field, such as a `Timestamp` (`Schema.Date`: an ISO string on the wire), that derivation is a new AST
 * object each time, so the parser memo misses and every `make` compiles a fresh parser: about 280 µs per
 * command or event on this machine (`npm run bench -- schema`), most of a command's CPU. This derives the
 * type side once; the checks and the result are those of the original `make`.
 */
export const compiledMake = <
  S extends Schema.Schema.AnyNoContext & {
    make(props: never, options?: Schema.MakeOptions): unknown
  }
>(
  schema: S
): S => {
  const validate = ParseResult.validateSync(Schema.typeSchema(schema))
  const make = schema.make.bind(schema)
  Object.defineProperty(schema, "make", {
    value: (props: never, options?: Schema.MakeOptions) => {
      const merged = make(props, { disableValidation: true })
      const skip = options === true || (typeof options === "object" && options.disableValidation === true)
      return skip ? merged : validate(merged)
    }
  })
  return schema
}

/**
 * Every instant in the domain is a `Date` in memory and an ISO-8601 string on the wire and in stored
 * events, so events round-trip through JSON unchanged.
 */
export const Timestamp = Schema.Date.annotations({ identifier: "Timestamp" })
export type Timestamp = typeof Timestamp.Type

export const Difficulty = Schema.Literal("low", "medium", "high").annotations({ identifier: "Difficulty" })
export type Difficulty = typeof Difficulty.Type

/** A whole, non-negative number of tokens: the wallet never deals in fractions. */
export const Tokens = Schema.Int.pipe(Schema.nonNegative()).annotations({ identifier: "Tokens" })

/** A proof's quality as judged by proof validation, from 0 (no evidence) to 1 (convincing). */
export const ProofScore = Schema.Number.pipe(Schema.between(0, 1)).annotations({ identifier: "ProofScore" })

/**
 * `Decider.event`/`Decider.state` are `Schema<A, unknown>` so the store can decode whatever JSON it
 * reads. A concrete schema's encoded side is a precise type, and Schema is invariant in it, so it is
 * widened by composing with `Unknown` (decoding still validates against the precise schema).
 */
export const fromUnknown = <A, I>(schema: Schema.Schema<A, I>): Schema.Schema<A, unknown> =>
  Schema.compose(Schema.Unknown, schema)

/** Calendar day (UTC) of an instant as `YYYY-MM-DD`: the unit of streaks and "once per day" rules. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10)

const MS_PER_DAY = 86_400_000

/** Whole days from `from` to `to` (both `YYYY-MM-DD`). */
export const daysBetween = (from: string, to: string): number =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / MS_PER_DAY)

export const addDays = (at: Date, days: number): Date => new Date(at.getTime() + days * MS_PER_DAY)
