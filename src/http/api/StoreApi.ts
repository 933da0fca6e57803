import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Category, StoreItem } from "../../domain/catalog.ts"
import {
  InsufficientFunds,
  ItemNotFound,
  RewardAlreadyUsed,
  RewardExpired,
  RewardNotFound
} from "../../domain/errors.ts"
import { RewardId } from "../../domain/ids.ts"
import { RewardView } from "../../domain/rewards.ts"
import { LedgerEntry, WalletProfile } from "../../domain/walletViews.ts"
import { Overloaded } from "../errors.ts"
import { Limit, Offset } from "./Paging.ts"
import { Authentication } from "./Security.ts"

const all = { parseOptions: { errors: "all" } } as const

export const ItemList = Schema.Struct({ items: Schema.Array(StoreItem), total: Schema.Int }).annotations({
  identifier: "ItemList"
})
export const CategoryList = Schema.Struct({
  categories: Schema.Array(Schema.Struct({ id: Category, item_count: Schema.Int }))
}).annotations({ identifier: "CategoryList" })

export const PurchaseResult = Schema.Struct({
  reward: RewardView,
  item: StoreItem,
  balance: Schema.Int,
  /** Achievement and level-up bonuses the purchase unlocked (first_purchase pays 10). */
  bonus_tokens: Schema.Int
}).annotations({ identifier: "PurchaseResult" })

export const ActiveRewards = Schema.Struct({ rewards: Schema.Array(RewardView) }).annotations({
  identifier: "ActiveRewards"
})

export const Ledger = Schema.Struct({
  items: Schema.Array(LedgerEntry),
  total: Schema.Int,
  limit: Schema.Int,
  offset: Schema.Int
}).annotations({ identifier: "Ledger" })

export class StoreApi extends HttpApiGroup.make("store")
  .add(
    HttpApiEndpoint.get("items", "/api/v1/store/items")
      .setUrlParams(Schema.Struct({ category: Schema.optional(Category) }).annotations(all))
      .addSuccess(ItemList)
      .annotate(OpenApi.Summary, "The store's items, optionally of one category")
  )
  .add(
    HttpApiEndpoint.get("categories", "/api/v1/store/categories")
      .addSuccess(CategoryList)
      .annotate(OpenApi.Summary, "The six categories and how many items each has")
  )
  .add(
    HttpApiEndpoint.get("profile", "/api/v1/store/profile")
      .addSuccess(WalletProfile)
      .annotate(OpenApi.Summary, "Balance, totals, level, streak and achievements")
  )
  .add(
    HttpApiEndpoint.post("purchase", "/api/v1/store/purchase/:item_id")
      .setPath(Schema.Struct({ item_id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)) }))
      .setHeaders(Schema.Struct({ "idempotency-key": Schema.optional(RewardId) }).annotations(all))
      .addSuccess(PurchaseResult, { status: 201 })
      .addError(ItemNotFound)
      .addError(InsufficientFunds)
      .annotate(
        OpenApi.Summary,
        "Buy an item (by id or name) at its catalog price; an Idempotency-Key makes a retry buy nothing twice"
      )
  )
  .add(
    HttpApiEndpoint.get("activeRewards", "/api/v1/store/rewards/active")
      .addSuccess(ActiveRewards)
      .annotate(OpenApi.Summary, "Rewards bought and not yet used or expired, newest first")
  )
  .add(
    HttpApiEndpoint.post("useReward", "/api/v1/store/rewards/:reward_id/use")
      .setPath(Schema.Struct({ reward_id: RewardId }))
      .addSuccess(RewardView)
      .addError(RewardNotFound)
      .addError(RewardExpired)
      .addError(RewardAlreadyUsed)
      .annotate(OpenApi.Summary, "Use a reward (once, within 7 days for rewards with a duration)")
  )
  .add(
    HttpApiEndpoint.get("transactions", "/api/v1/store/transactions")
      .setUrlParams(
        Schema.Struct({ limit: Schema.optional(Limit), offset: Schema.optional(Offset) }).annotations(all)
      )
      .addSuccess(Ledger)
      .annotate(OpenApi.Summary, "The token ledger from the wallet's events, newest first")
  )
  .addError(Overloaded)
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Store") {}
