import { Effect, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Accounts } from "../../programs/accounts.ts"
import { FocusForgeApi } from "../Api.ts"
import { CurrentUser } from "../api/Security.ts"
import { answerOverloaded, setRetryAfter } from "./common.ts"

export const AuthHandlers = HttpApiBuilder.group(FocusForgeApi, "auth", (handlers) =>
  Effect.gen(function* () {
    const accounts = yield* Accounts
    const session = (s: {
      user: CurrentUser["Service"]["user"]
      access_token: string
      expires_in: number
    }) => ({
      ...s,
      token_type: "bearer" as const
    })
    return handlers
      .handle("register", ({ payload }) =>
        accounts
          .register({ ...payload, password: Redacted.make(payload.password) })
          .pipe(Effect.map(session), answerOverloaded)
      )
      .handle("login", ({ payload }) =>
        accounts.login({ email: payload.email, password: Redacted.make(payload.password) }).pipe(
          Effect.map(session),
          Effect.tapErrorTag("AccountLocked", (error) => setRetryAfter(error.details.retry_after_seconds)),
          answerOverloaded
        )
      )
      .handle("me", () => Effect.map(CurrentUser, (principal) => principal.user))
      .handle("logout", () => Effect.flatMap(CurrentUser, accounts.logout).pipe(answerOverloaded))
  })
)
