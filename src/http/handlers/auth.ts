import { Effect, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { describeConfigError, InvalidConfig, TrustedProxiesConfig } from "../../layers/config/AppConfig.ts"
import { Accounts } from "../../programs/accounts.ts"
import { FocusForgeApi } from "../Api.ts"
import { CurrentUser } from "../api/Security.ts"
import { clientAddress } from "../clientAddress.ts"
import { answerOverloaded, setRetryAfter } from "./common.ts"

export const AuthHandlers = HttpApiBuilder.group(FocusForgeApi, "auth", (handlers) =>
  Effect.gen(function* () {
    const accounts = yield* Accounts
    // Read at start-up: a malformed TRUSTED_PROXIES stops the server with the variable's name.
    const trusted = yield* TrustedProxiesConfig.pipe(
      Effect.mapError(
        (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
      )
    )
    const session = (s: {
      user: CurrentUser["Service"]["user"]
      access_token: string
      expires_in: number
    }) => ({
      ...s,
      token_type: "bearer" as const
    })
    return handlers
      .handle("register", ({ payload, request }) =>
        accounts
          .register({
            ...payload,
            password: Redacted.make(payload.password),
            client: clientAddress(request, trusted)
          })
          .pipe(
            Effect.map(session),
            Effect.tapErrorTag("RegistrationThrottled", (error) =>
              setRetryAfter(error.details.retry_after_seconds)
            ),
            answerOverloaded
          )
      )
      .handle("login", ({ payload, request }) =>
        accounts
          .login({
            email: payload.email,
            password: Redacted.make(payload.password),
            client: clientAddress(request, trusted)
          })
          .pipe(
            Effect.map(session),
            Effect.tapErrorTag("LoginThrottled", (error) => setRetryAfter(error.details.retry_after_seconds)),
            answerOverloaded
          )
      )
      .handle("me", () => Effect.map(CurrentUser, (principal) => principal.user))
      .handle("logout", () => Effect.flatMap(CurrentUser, accounts.logout).pipe(answerOverloaded))
  })
)
