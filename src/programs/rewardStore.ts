import { Context, Effect, Layer, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { CATALOG, CATEGORIES, type Category, findItem, itemsInCategory } from "../domain/catalog.ts"
import { itemNotFound, rewardNotFound } from "../domain/errors.ts"
import { RewardId, type UserId } from "../domain/ids.ts"
import { entryOf } from "../domain/common.ts"
import { activeRewards, rewardView } from "../domain/rewards.ts"
import { PurchaseItem, UseReward, WalletDecider, WalletEvent } from "../domain/wallet.ts"
import { ledgerEntry, walletProfile } from "../domain/walletViews.ts"
import { EventStore } from "../eventsourcing/EventStore.ts"
import { streamIdOf } from "../eventsourcing/Hydrate.ts"
import { Aggregates, failsOnlyWith, now, storeFailuresAsDefects } from "./aggregates.ts"
import { withSpan } from "../layers/observability/spans.ts"

const decodeWalletEvent = Schema.decodeUnknownEffect(WalletEvent)

/** Bonus tokens among a command's events (level-ups, achievements, streaks): everything but the earning. */
export const bonusOf = (events: ReadonlyArray<WalletEvent>): number =>
  events.reduce(
    (sum, e) =>
      e._tag === "LevelUpBonusAwarded" || e._tag === "AchievementUnlocked" || e._tag === "StreakBonusAwarded"
        ? sum + e.amount
        : sum,
    0
  )

/**
 * The reward store and the wallet behind it. The catalog is static; everything about a user comes from
 * their wallet actor (profile, rewards) or their wallet's event stream (the ledger).
 */
export class RewardStore extends Context.Service<RewardStore>()("RewardStore", {
  make: Effect.gen(function* () {
    const { wallets } = yield* Aggregates
    const store = yield* EventStore

    const items = (category: Category | undefined) =>
      category === undefined ? CATALOG : itemsInCategory(category)

    const categories = CATEGORIES.map((category) => ({
      id: category,
      item_count: itemsInCategory(category).length
    }))

    const profile = (userId: UserId) =>
      Effect.gen(function* () {
        const { state } = yield* wallets.read(userId)
        return walletProfile(state, yield* now)
      }).pipe(storeFailuresAsDefects)

    /** `purchaseId` (an Idempotency-Key) makes a retried purchase answer the first one's reward. */
    const purchase = (userId: UserId, itemId: string, purchaseId: RewardId | undefined) =>
      Effect.gen(function* () {
        const at = yield* now
        const purchase_id = purchaseId ?? RewardId.make(randomUUID())
        const result = yield* wallets.send(userId, PurchaseItem.make({ purchase_id, item_id: itemId, at }))
        const reward = entryOf(result.state.rewards, purchase_id)
        if (reward === undefined)
          return yield* Effect.die(new Error(`purchase ${purchase_id} granted nothing`))
        const item = findItem(reward.item_id)
        if (item === undefined) return yield* Effect.fail(itemNotFound(reward.item_id))
        return {
          reward: rewardView(reward, at),
          item,
          balance: result.state.balance,
          bonus_tokens: bonusOf(result.events)
        }
      }).pipe(
        storeFailuresAsDefects,
        failsOnlyWith("ItemNotFound", "InsufficientFunds", "IdempotencyKeyReused", "Overloaded"),
        withSpan("RewardStore.purchase")
      )

    const active = (userId: UserId) =>
      Effect.gen(function* () {
        const { state } = yield* wallets.read(userId)
        const at = yield* now
        return activeRewards(Object.values(state.rewards), at).map((r) => rewardView(r, at))
      }).pipe(storeFailuresAsDefects)

    const useReward = (userId: UserId, rewardId: RewardId) =>
      Effect.gen(function* () {
        const at = yield* now
        const result = yield* wallets.send(userId, UseReward.make({ reward_id: rewardId, at }))
        const reward = entryOf(result.state.rewards, rewardId)
        if (reward === undefined) return yield* Effect.fail(rewardNotFound(rewardId))
        return rewardView(reward, at)
      }).pipe(
        storeFailuresAsDefects,
        failsOnlyWith("RewardNotFound", "RewardExpired", "RewardAlreadyUsed", "Overloaded"),
        withSpan("RewardStore.useReward")
      )

    /** The ledger, newest first, straight from the wallet's events: it cannot disagree with the balance. */
    const transactions = (userId: UserId, page: { readonly limit: number; readonly offset: number }) =>
      Effect.gen(function* () {
        const events = yield* store.read(streamIdOf(WalletDecider, userId)).pipe(
          Stream.mapEffect((stored) => Effect.orDie(decodeWalletEvent(stored.data))),
          Stream.runCollect
        )
        const entries = events
          .flatMap((e) => {
            const entry = ledgerEntry(e)
            return entry === null ? [] : [entry]
          })
          .reverse()
        return {
          items: entries.slice(page.offset, page.offset + page.limit),
          total: entries.length,
          limit: page.limit,
          offset: page.offset
        }
      }).pipe(Effect.orDie)

    return { items, categories, profile, purchase, active, useReward, transactions } as const
  })
}) {
  /** Dependencies (Aggregates, EventStore) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}
