import { HttpApiBuilder } from "@effect/platform"
import { Effect } from "effect"
import { RewardStore } from "../../programs/store.ts"
import { FocusForgeApi } from "../Api.ts"
import { CurrentUser } from "../api/Security.ts"
import { answerOverloaded, DEFAULT_PAGE } from "./common.ts"

export const StoreHandlers = HttpApiBuilder.group(FocusForgeApi, "store", (handlers) =>
  Effect.gen(function* () {
    const store = yield* RewardStore
    const userId = Effect.map(CurrentUser, (principal) => principal.user.id)
    return handlers
      .handle("items", ({ urlParams }) =>
        Effect.sync(() => {
          const items = store.items(urlParams.category)
          return { items, total: items.length }
        })
      )
      .handle("categories", () => Effect.succeed({ categories: store.categories }))
      .handle("profile", () => Effect.flatMap(userId, store.profile).pipe(answerOverloaded))
      .handle("purchase", ({ path, headers }) =>
        Effect.flatMap(userId, (user) => store.purchase(user, path.item_id, headers["idempotency-key"])).pipe(
          answerOverloaded
        )
      )
      .handle("activeRewards", () =>
        Effect.flatMap(userId, store.active).pipe(
          Effect.map((rewards) => ({ rewards })),
          answerOverloaded
        )
      )
      .handle("useReward", ({ path }) =>
        Effect.flatMap(userId, (user) => store.useReward(user, path.reward_id)).pipe(answerOverloaded)
      )
      .handle("transactions", ({ urlParams }) =>
        Effect.flatMap(userId, (user) =>
          store.transactions(user, {
            limit: urlParams.limit ?? DEFAULT_PAGE.limit,
            offset: urlParams.offset ?? DEFAULT_PAGE.offset
          })
        )
      )
  })
)
