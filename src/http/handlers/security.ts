import { Effect, Layer, Redacted } from "effect"
import { Accounts } from "../../programs/accounts.ts"
import { Authentication } from "../api/Security.ts"
import { answerOverloaded } from "./common.ts"
import { Unauthorized } from "../errors.ts"

/** Every refusal looks the same to the client; why it was refused is logged at debug level. */
export const AuthenticationLive = Layer.effect(
  Authentication,
  Effect.map(Accounts, (accounts) =>
    Authentication.of({
      bearer: (token) =>
        accounts.authenticate(Redacted.value(token).trim()).pipe(
          Effect.catchTag("InvalidToken", (error) =>
            Effect.logDebug("bearer token refused").pipe(
              Effect.annotateLogs("reason", error.reason),
              Effect.zipRight(
                Effect.fail(new Unauthorized({ message: "Missing, expired or invalid access token" }))
              )
            )
          ),
          // The account read behind the check is queued like any command; a full mailbox is not a 401.
          answerOverloaded
        )
    })
  )
)
