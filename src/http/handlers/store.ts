import { HttpApiBuilder } from "effect/http-api"
import { Effect } from "effect"
import { RewardStore } from "../../programs/rewardStore.ts"
import { FocusForgeApi } from "../Api.ts"
import { CurrentUser } from "../api/Security.ts"
import { answerOverloaded, DEFAULT_PAGE } from "./common.ts"

export const StoreHandlers = HttpApiBuilder.group(FocusForgeApi, "store", (handlers) =>
  Effect.gen(function* () {
    const store = yield* RewardStore
    const userId = Effect.map(CurrentUser, (principal) => principal.user.id)
    return handlers
      .handle("items", ({ query }) =>
        Effect.sync(() => {
          const items = store.items(query.category)
          return { items, total: items.length }
        })
      )
      .handle("categories", () => Effect.succeed({ categories: store.categories }))
      .handle("profile", () => Effect.flatMap(userId, store.profile).pipe(answerOverloaded))
      .handle("purchase", ({ params, headers }) =>
        Effect.flatMap(userId, (user) =>
          store.purchase(user, params.item_id, headers["idempotency-key"])
        ).pipe(answerOverloaded)
      )
      .handle("activeRewards", () =>
        Effect.flatMap(userId, store.active).pipe(
          Effect.map((rewards) => ({ rewards })),
          answerOverloaded
        )
      )
      .handle("useReward", ({ params }) =>
        Effect.flatMap(userId, (user) => store.useReward(user, params.reward_id)).pipe(answerOverloaded)
      )
      .handle("transactions", ({ query }) =>
        Effect.flatMap(userId, (user) =>
          store.transactions(user, {
            limit: query.limit ?? DEFAULT_PAGE.limit,
            offset: query.offset ?? DEFAULT_PAGE.offset
          })
        )
      )
  })
)
