/**
 * `compiledMake` (src/domain/common.ts): the domain's struct constructors validate exactly as
 * `Schema.TaggedStruct(...).make` does (same result, same refusals, same opt-out), and refuse with a
 * `Schema.SchemaError` that names the field (v4's own `make` throws a plain Error with the issue in
 * `cause`). v3's `ParseError` is v4's `SchemaError`; v3's `disableValidation` is v4's `disableChecks`
 * (v4 has no boolean shorthand). The cost is measured by `npm run bench -- schema`.
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { compiledMake, Timestamp } from "../src/domain/common.ts"
import { LogMood } from "../src/domain/mood.ts"

const fields = {
  id: Schema.String.check(Schema.isMinLength(3)),
  score: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 })),
  note: Schema.optionalKey(Schema.String),
  at: Timestamp
}
const plain = Schema.TaggedStruct("Logged", fields)
const compiled = compiledMake(Schema.TaggedStruct("Logged", fields))
const at = new Date("2026-11-27T10:00:00.000Z")

describe("compiledMake", () => {
  it("builds the same value as the schema's own make, tag included", () => {
    expect(compiled.make({ id: "abc", score: 7, at })).toEqual(plain.make({ id: "abc", score: 7, at }))
    expect(compiled.make({ id: "abc", score: 7, note: "n", at })).toEqual({
      _tag: "Logged",
      id: "abc",
      score: 7,
      note: "n",
      at
    })
  })

  it("refuses what the schema refuses, with a ParseError naming the field", () => {
    for (const bad of [
      { id: "ab", score: 7, at },
      { id: "abc", score: 11, at },
      { id: "abc", score: 7, at: new Date(Number.NaN) }
    ]) {
      expect(() => plain.make(bad)).toThrow()
      let error: unknown
      try {
        compiled.make(bad)
      } catch (e) {
        error = e
      }
      expect(Schema.isSchemaError(error)).toBe(true)
    }
    expect(() => compiled.make({ id: "abc", score: 11, at })).toThrow(/score/)
  })

  it("skips validation only when asked, like make", () => {
    expect(compiled.make({ id: "ab", score: 11, at }, { disableChecks: true })).toMatchObject({
      id: "ab",
      score: 11
    })
    expect(compiled.make({ id: "ab", score: 11, at }, { disableChecks: true })).toEqual(
      plain.make({ id: "ab", score: 11, at }, { disableChecks: true })
    )
    expect(() => compiled.make({ id: "ab", score: 7, at }, { disableChecks: false })).toThrow()
  })

  it("is what the domain's commands and events use", () => {
    expect(() =>
      LogMood.make({
        entry_id: "e" as never,
        user_id: "u" as never,
        score: 0,
        energy: 5,
        stress: 5,
        at
      })
    ).toThrow()
  })
})
