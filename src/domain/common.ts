import { Schema, SchemaIssue, SchemaParser } from "effect"

/**
 * The domain's struct constructors: `schema.make`, failing with a `Schema.SchemaError` that names the
 * field and the rule it broke.
 *
 * Effect 3 needed this for speed (its `make` compiled a fresh parser on every call for structs with a
 * transformed field such as `Timestamp`). Effect 4's `make` compiles its parser once per schema, so
 * that part is gone (`npm run bench -- schema`); what remains is the error: v4's `make` throws a
 * plain `Error("Schema validation failed")` with the issue only in `cause`, which makes a defect from a
 * bad command unreadable in logs. The checks, the result and the `disableChecks` opt-out are those of
 * `make`.
 */
export const compiledMake = <S extends Schema.Top>(schema: S): S => {
  // What the schema's own lazy `make` getter builds (and then pins, non-configurable, on first use).
  const make = SchemaParser.make(schema)
  Object.defineProperty(schema, "make", {
    enumerable: true,
    value: (input: S["~type.make.in"], options?: Schema.MakeOptions): S["Type"] => {
      try {
        return make(input, options)
      } catch (error) {
        throw error instanceof Error && SchemaIssue.isIssue(error.cause)
          ? new Schema.SchemaError(error.cause)
          : error
      }
    }
  })
  return schema
}

/**
 * Every instant in the domain is a `Date` in memory and an ISO-8601 string on the wire and in stored
 * events, so events round-trip through JSON unchanged. (v4's `Schema.Date` is a `Date` on both sides.)
 */
export const Timestamp = Schema.DateFromString.annotate({ identifier: "Timestamp" })
export type Timestamp = typeof Timestamp.Type

export const Difficulty = Schema.Literals(["low", "medium", "high"]).annotate({ identifier: "Difficulty" })
export type Difficulty = typeof Difficulty.Type

/** A whole, non-negative number of tokens: the wallet never deals in fractions. */
export const Tokens = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).annotate({ identifier: "Tokens" })

/** A proof's quality as judged by proof validation, from 0 (no evidence) to 1 (convincing). */
export const ProofScore = Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })).annotate({
  identifier: "ProofScore"
})

/**
 * `Decider.event`/`Decider.state` are `Codec<A, unknown>`: the store decodes whatever JSON it reads,
 * and encodes to JSON it does not inspect. A v4 codec is covariant in its encoded side, so the precise
 * schema is one already; this only states that type (decoding still validates against the schema).
 */
export const fromUnknown = <A, I>(schema: Schema.Codec<A, I>): Schema.Codec<A, unknown> => schema

/**
 * The entry stored under `key` in a plain-object record, or `undefined`. Records keyed by ids that come
 * from clients (reward ids, Idempotency-Keys, block keys) must not answer `constructor`, `toString` or
 * `__proto__` from `Object.prototype`: ids like those are ordinary strings, so only own entries count.
 * (The encoding stays a plain JSON object; only the lookup changes.)
 */
export const entryOf = <V>(record: { readonly [key: string]: V }, key: string): V | undefined =>
  Object.hasOwn(record, key) ? record[key] : undefined

export const DAY_MS = 86_400_000

/** Epoch milliseconds at which the UTC day of `at` began. */
export const startOfUtcDay = (at: Date): number => Math.floor(at.getTime() / DAY_MS) * DAY_MS

/** The last day formatted: most calls on a request path ask for today, and `toISOString` is not cheap. */
let lastDayNumber = Number.NaN
let lastDayText = ""

/**
 * Calendar day (UTC) of an instant as `YYYY-MM-DD`: the unit of streaks and "once per day" rules. Epoch
 * milliseconds have no leap seconds, so every UTC day is exactly `DAY_MS` long and the day number decides
 * the text. An invalid date has a NaN day number, never equal to the memo: it throws as `toISOString` does.
 */
export const utcDay = (at: Date): string => {
  const day = Math.floor(at.getTime() / DAY_MS)
  if (day !== lastDayNumber) {
    lastDayText = at.toISOString().slice(0, 10)
    lastDayNumber = day
  }
  return lastDayText
}

/** Whole days from `from` to `to` (both `YYYY-MM-DD`). */
export const daysBetween = (from: string, to: string): number =>
  Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS)

export const addDays = (at: Date, days: number): Date => new Date(at.getTime() + days * DAY_MS)
