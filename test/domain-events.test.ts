import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { AccountDecider, EmailClaimDecider } from "../src/domain/account.ts"
import type { Decider } from "../src/domain/Decider.ts"
import { MoodDecider } from "../src/domain/mood.ts"
import { TaskDecider } from "../src/domain/task.ts"
import { WalletDecider } from "../src/domain/wallet.ts"

/**
 * Dates are stored as ISO-8601 strings, never as objects or numbers: every `Date` in `value` sits in
 * `encoded` at the same place as its ISO string. (Compared by position, not by a field name such as
 * `at`, which is also a valid record key: a reward bought with the id `at`.)
 */
const expectIsoDates = (value: unknown, encoded: unknown): void => {
  if (value instanceof Date) {
    expect(encoded).toBe(value.toISOString())
  } else if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      expectIsoDates(inner, (encoded as Record<string, unknown>)[key])
    }
  }
}

/**
 * Events and snapshots are stored as JSON: every value their schemas admit must survive
 * encode → JSON text → decode unchanged (dates included, as ISO strings).
 */
const roundTrips = <A>(name: string, schema: Schema.Codec<A, unknown>) => {
  const encode = Schema.encodeSync(schema)
  const decode = Schema.decodeUnknownSync(schema)
  it.prop(
    `${name} round-trips through JSON`,
    [schema],
    ([value]) => {
      const text = JSON.stringify(encode(value))
      const decoded = decode(JSON.parse(text))
      // Compared as JSON text: -0 and 0 are the same stored value.
      expect(JSON.stringify(encode(decoded))).toBe(text)
      expectIsoDates(value, encode(value))
    },
    { arbitrary: { runs: 200 } }
  )
}

const deciders: ReadonlyArray<Decider<unknown, unknown, unknown, unknown>> = [
  AccountDecider,
  EmailClaimDecider,
  TaskDecider,
  WalletDecider,
  MoodDecider
] as never

describe("event and state schemas", () => {
  for (const decider of deciders) {
    roundTrips(`${decider.type} event`, decider.event)
    roundTrips(`${decider.type} state`, decider.state)
  }

  // Node 26.10's JSON.parse can read an escaped object key (`"\t"`, `"\u0000"`) as a key holding a
  // backslash that an earlier object of the same shape had (README, Runtime): stored keys must need no escape.
  it.prop(
    "record keys of stored states are ids: none needs a JSON escape",
    [WalletDecider.state, AccountDecider.state],
    ([wallet, account]) => {
      const keys = [
        ...Object.keys(wallet.paid_blocks),
        ...Object.keys(wallet.rewards),
        ...Object.keys(account.revoked_tokens)
      ]
      expect(keys.filter((key) => JSON.stringify(key) !== `"${key}"`)).toEqual([])
    },
    { arbitrary: { runs: 200 } }
  )

  it("events carry their tag and ISO timestamps in JSON", () => {
    const json = Schema.encodeSync(WalletDecider.event)({
      _tag: "RewardUsed",
      reward_id: "r1",
      at: new Date("2025-01-02T03:04:05.000Z")
    } as never)
    expect(json).toEqual({ _tag: "RewardUsed", reward_id: "r1", at: "2025-01-02T03:04:05.000Z" })
  })

  it("rejects stored events that are not well-formed", () => {
    const decode = Schema.decodeUnknownResult(TaskDecider.event)
    expect(
      decode({ _tag: "BlockStarted", task_id: "t", user_id: "u", block_id: "b", at: "not a date" })._tag
    ).toBe("Failure")
    expect(decode({ _tag: "Nope" })._tag).toBe("Failure")
  })
})
