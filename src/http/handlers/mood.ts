import { HttpApiBuilder } from "effect/http-api"
import { Effect } from "effect"
import { INSIGHTS_WINDOW_DAYS } from "../../domain/mood.ts"
import { MoodLog } from "../../programs/mood.ts"
import { FocusForgeApi } from "../Api.ts"
import { CurrentUser } from "../api/Security.ts"
import { answerOverloaded } from "./common.ts"

export const MoodHandlers = HttpApiBuilder.group(FocusForgeApi, "mood", (handlers) =>
  Effect.gen(function* () {
    const mood = yield* MoodLog
    const userId = Effect.map(CurrentUser, (principal) => principal.user.id)
    return handlers
      .handle("log", ({ payload }) =>
        Effect.flatMap(userId, (user) => mood.log(user, payload)).pipe(answerOverloaded)
      )
      .handle("history", ({ query }) =>
        Effect.flatMap(userId, (user) => mood.history(user, query)).pipe(
          Effect.map((items) => ({ items, total: items.length })),
          answerOverloaded
        )
      )
      .handle("insights", ({ query }) =>
        Effect.flatMap(userId, (user) => mood.insights(user, query.days ?? INSIGHTS_WINDOW_DAYS)).pipe(
          answerOverloaded
        )
      )
  })
)
