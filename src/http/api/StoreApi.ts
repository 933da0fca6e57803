import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { Category, StoreItem } from "../../domain/catalog.ts"
import {
  IdempotencyKeyReused,
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

export const ItemList = Schema.Struct({ items: Schema.Array(StoreItem), total: Schema.Int }).annotate({
  identifier: "ItemList"
})
export const CategoryList = Schema.Struct({
  categories: Schema.Array(Schema.Struct({ id: Category, item_count: Schema.Int }))
}).annotate({ identifier: "CategoryList" })

export const PurchaseResult = Schema.Struct({
  reward: RewardView,
  item: StoreItem,
  balance: Schema.Int,
  /** Achievement and level-up bonuses the purchase unlocked (first_purchase pays 10). */
  bonus_tokens: Schema.Int
}).annotate({ identifier: "PurchaseResult" })

export const ActiveRewards = Schema.Struct({ rewards: Schema.Array(RewardView) }).annotate({
  identifier: "ActiveRewards"
})

export const Ledger = Schema.Struct({
  items: Schema.Array(LedgerEntry),
  total: Schema.Int,
  limit: Schema.Int,
  offset: Schema.Int
}).annotate({ identifier: "Ledger" })

export class StoreApi extends HttpApiGroup.make("store")
  .add(
    HttpApiEndpoint.get("items", "/api/v1/store/items", {
      query: { category: Schema.optional(Category) },
      success: ItemList,
      error: Overloaded
    }).annotate(OpenApi.Summary, "The store's items, optionally of one category")
  )
  .add(
    HttpApiEndpoint.get("categories", "/api/v1/store/categories", {
      success: CategoryList,
      error: Overloaded
    }).annotate(OpenApi.Summary, "The six categories and how many items each has")
  )
  .add(
    HttpApiEndpoint.get("profile", "/api/v1/store/profile", {
      success: WalletProfile,
      error: Overloaded
    }).annotate(OpenApi.Summary, "Balance, totals, level, streak and achievements")
  )
  .add(
    HttpApiEndpoint.post("purchase", "/api/v1/store/purchase/:item_id", {
      params: { item_id: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(100)) },
      headers: { "idempotency-key": Schema.optional(RewardId) },
      success: PurchaseResult.pipe(HttpApiSchema.status(201)),
      error: [ItemNotFound, InsufficientFunds, IdempotencyKeyReused, Overloaded]
    }).annotate(
      OpenApi.Summary,
      "Buy an item (by id or name) at its catalog price; an Idempotency-Key makes a retry buy nothing twice (422 when reused for another item)"
    )
  )
  .add(
    HttpApiEndpoint.get("activeRewards", "/api/v1/store/rewards/active", {
      success: ActiveRewards,
      error: Overloaded
    }).annotate(OpenApi.Summary, "Rewards bought and not yet used or expired, newest first")
  )
  .add(
    HttpApiEndpoint.post("useReward", "/api/v1/store/rewards/:reward_id/use", {
      params: { reward_id: RewardId },
      success: RewardView,
      error: [RewardNotFound, RewardExpired, RewardAlreadyUsed, Overloaded]
    }).annotate(OpenApi.Summary, "Use a reward (once, within 7 days for rewards with a duration)")
  )
  .add(
    HttpApiEndpoint.get("transactions", "/api/v1/store/transactions", {
      query: { limit: Schema.optional(Limit), offset: Schema.optional(Offset) },
      success: Ledger,
      error: Overloaded
    }).annotate(OpenApi.Summary, "The token ledger from the wallet's events, newest first")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Store")
  .annotate(
    OpenApi.Description,
    "The token wallet: catalog, purchases (idempotent with an Idempotency-Key), rewards and the ledger."
  ) {}
