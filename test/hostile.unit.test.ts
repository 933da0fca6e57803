import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { AccountDecider, isTokenRevoked } from "../src/domain/account.ts"
import { entryOf } from "../src/domain/common.ts"
import { RewardId } from "../src/domain/ids.ts"
import { PurchaseItem, UseReward, WalletDecider, type WalletState } from "../src/domain/wallet.ts"
import { walletProfile } from "../src/domain/walletViews.ts"
import { MAX_JSON_DEPTH, nestsDeeperThan } from "../src/http/jsonDepth.ts"
import { decideErr, decideOk, day } from "./domain/support.ts"

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype)

/** A wallet that can afford a few purchases, built without crediting rules (they change elsewhere). */
const funded: WalletState = { ...WalletDecider.initialState, balance: 500, total_earned: 500 }

describe("entryOf", () => {
  it("answers own entries only: prototype names are absent from an empty record", () => {
    for (const name of PROTOTYPE_NAMES) {
      expect(entryOf({}, name), name).toBeUndefined()
      expect(entryOf({ [name]: 1 }, name), name).toBe(1)
    }
  })
})

describe("wallet lookups keyed by client ids", () => {
  it("using a reward named after an Object.prototype property is RewardNotFound, not a crash", () => {
    for (const name of PROTOTYPE_NAMES) {
      const error = decideErr(
        WalletDecider,
        funded,
        UseReward.make({ reward_id: RewardId.make(name), at: day(0) })
      )
      expect(error._tag, name).toBe("RewardNotFound")
    }
  })

  it("an Object.prototype name as Idempotency-Key buys once, and its retry answers that purchase", () => {
    for (const name of PROTOTYPE_NAMES) {
      const purchase = PurchaseItem.make({
        purchase_id: RewardId.make(name),
        item_id: "quick-break-5m",
        at: day(0)
      })
      const first = decideOk(WalletDecider, funded, purchase)
      expect(first.events[0]?._tag, name).toBe("ItemPurchased")
      expect(entryOf(first.state.rewards, name)?.item_id, name).toBe("quick-break-5m")
      const again = decideOk(WalletDecider, first.state, purchase)
      expect(again.events, name).toEqual([])
      expect(again.state.balance, name).toBe(first.state.balance)
      // The profile lists exactly the achievement the purchase unlocked.
      expect(
        walletProfile(first.state, day(0)).achievements.map((a) => a.id),
        name
      ).toEqual(["first_purchase"])
    }
  })

  it("an Idempotency-Key reused for another item is IdempotencyKeyReused; the same item (by id or name) is a retry", () => {
    const key = RewardId.make("key-1")
    const first = decideOk(
      WalletDecider,
      funded,
      PurchaseItem.make({ purchase_id: key, item_id: "quick-break-5m", at: day(0) })
    )
    const other = decideErr(
      WalletDecider,
      first.state,
      PurchaseItem.make({ purchase_id: key, item_id: "movie-night", at: day(0) })
    )
    expect(other._tag).toBe("IdempotencyKeyReused")
    expect(other.details).toEqual({ idempotency_key: "key-1", item_id: "movie-night" })
    const unknown = decideErr(
      WalletDecider,
      first.state,
      PurchaseItem.make({ purchase_id: key, item_id: "no-such-item", at: day(0) })
    )
    expect(unknown._tag).toBe("IdempotencyKeyReused")
    const byName = decideOk(
      WalletDecider,
      first.state,
      PurchaseItem.make({ purchase_id: key, item_id: "Quick Break (5m)", at: day(0) })
    )
    expect(byName.events).toEqual([])
  })
})

describe("account lookups", () => {
  it("no token id named after an Object.prototype property is revoked until revoked", () => {
    for (const name of PROTOTYPE_NAMES) {
      expect(isTokenRevoked(AccountDecider.initialState, name), name).toBe(false)
    }
  })
})

describe("nestsDeeperThan", () => {
  const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

  it("counts arrays and objects alike, up to the limit inclusive", () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH)).toBe(false)
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1), MAX_JSON_DEPTH)).toBe(true)
    expect(nestsDeeperThan(`${'{"a":'.repeat(65)}1${"}".repeat(65)}`, 64)).toBe(true)
    expect(nestsDeeperThan(`${'{"a":['.repeat(32)}1${"]}".repeat(32)}`, 64)).toBe(false)
    expect(nestsDeeperThan(nested(100_000), 64)).toBe(true)
  })

  it("ignores brackets inside strings, honouring escaped quotes and backslashes", () => {
    expect(nestsDeeperThan(JSON.stringify({ a: "[".repeat(1000) }), 2)).toBe(false)
    expect(nestsDeeperThan(JSON.stringify({ a: `\\"${"{".repeat(10)}` }), 2)).toBe(false)
    expect(nestsDeeperThan(JSON.stringify({ a: "\\" }) + nested(3), 2)).toBe(true)
  })

  it("agrees with the depth of any JSON value", () => {
    const depthOf = (value: unknown): number =>
      typeof value === "object" && value !== null ? 1 + Math.max(0, ...Object.values(value).map(depthOf)) : 0
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (value, limit) => {
        expect(nestsDeeperThan(JSON.stringify(value), limit)).toBe(depthOf(value) > limit)
      })
    )
  })
})
