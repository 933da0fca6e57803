import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { AccountLocked, EmailTaken, InvalidCredentials } from "../../domain/errors.ts"
import { DisplayName, EmailFromInput, Password, UserView } from "../../domain/account.ts"
import { Overloaded } from "../errors.ts"
import { Authentication } from "./Security.ts"

const all = { parseOptions: { errors: "all" } } as const

export const RegisterRequest = Schema.Struct({
  email: EmailFromInput,
  password: Password,
  display_name: Schema.Trim.pipe(Schema.compose(DisplayName))
}).annotations({ identifier: "RegisterRequest", ...all })

export const LoginRequest = Schema.Struct({ email: EmailFromInput, password: Password }).annotations({
  identifier: "LoginRequest",
  ...all
})

export const SessionResponse = Schema.Struct({
  user: UserView,
  access_token: Schema.String,
  token_type: Schema.Literal("bearer"),
  /** Seconds until the token expires. */
  expires_in: Schema.Int
}).annotations({ identifier: "Session" })

export class AuthApi extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("register", "/api/v1/auth/register")
      .setPayload(RegisterRequest)
      .addSuccess(SessionResponse, { status: 201 })
      .addError(EmailTaken)
      .addError(Overloaded)
      .annotate(OpenApi.Summary, "Create an account and get an access token")
  )
  .add(
    HttpApiEndpoint.post("login", "/api/v1/auth/login")
      .setPayload(LoginRequest)
      .addSuccess(SessionResponse)
      .addError(InvalidCredentials)
      .addError(AccountLocked)
      .addError(Overloaded)
      .annotate(
        OpenApi.Summary,
        "Exchange email and password for an access token (5 failures in 15 min lock the account for 15 min)"
      )
  )
  .add(
    HttpApiEndpoint.get("me", "/api/v1/auth/me")
      .addSuccess(UserView)
      .middleware(Authentication)
      .annotate(OpenApi.Summary, "The current user")
  )
  .add(
    HttpApiEndpoint.post("logout", "/api/v1/auth/logout")
      .middleware(Authentication)
      .addError(Overloaded)
      .annotate(OpenApi.Summary, "Revoke the access token used for this request")
  )
  .annotate(OpenApi.Title, "Auth") {}
