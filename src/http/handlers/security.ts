import { Effect, Layer, Redacted } from "effect"
import { Accounts } from "../../programs/accounts.ts"
import { Authentication, CurrentUser } from "../api/Security.ts"
import { Unauthorized } from "../errors.ts"
import { answerOverloaded } from "./common.ts"

/** Every refusal looks the same to the client; why it was refused is logged at debug level. */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(Accounts, (accounts) =>
    Authentication.of({
      bearer: (httpEffect, { credential }) =>
        accounts.authenticate(Redacted.value(credential).trim()).pipe(
          Effect.catchTag("InvalidToken", (error) =>
            Effect.logDebug("bearer token refused").pipe(
              Effect.annotateLogs("reason", error.reason),
              Effect.andThen(
                Effect.fail(new Unauthorized({ message: "Missing, expired or invalid access token" }))
              )
            )
          ),
          // The account read behind the check is queued like any command; a full mailbox is not a 401.
          answerOverloaded,
          Effect.flatMap((principal) => Effect.provideService(httpEffect, CurrentUser, principal))
        )
    })
  )
)
