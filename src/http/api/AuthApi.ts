import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import {
  DisplayName,
  EmailFromInput,
  LoginPassword,
  Password,
  UserView,
  WeakPassword
} from "../../domain/account.ts"
import { EmailTaken, InvalidCredentials, LoginThrottled, RegistrationThrottled } from "../../domain/errors.ts"
import { Overloaded } from "../errors.ts"
import { Authentication } from "./Security.ts"

export const RegisterRequest = Schema.Struct({
  email: EmailFromInput,
  password: Password,
  display_name: Schema.Trim.pipe(Schema.decodeTo(DisplayName))
}).annotate({ identifier: "RegisterRequest" })

export const LoginRequest = Schema.Struct({ email: EmailFromInput, password: LoginPassword }).annotate({
  identifier: "LoginRequest"
})

export const SessionResponse = Schema.Struct({
  user: UserView,
  access_token: Schema.String,
  token_type: Schema.Literal("bearer"),
  /** Seconds until the token expires. */
  expires_in: Schema.Int
}).annotate({ identifier: "Session" })

export class AuthApi extends HttpApiGroup.make("auth")
  .add(
    HttpApiEndpoint.post("register", "/api/v1/auth/register", {
      payload: RegisterRequest,
      success: SessionResponse.pipe(HttpApiSchema.status(201)),
      error: [EmailTaken, WeakPassword, RegistrationThrottled, Overloaded]
    }).annotate(
      OpenApi.Summary,
      "Create an account and get an access token (registrations are limited per client address)"
    )
  )
  .add(
    HttpApiEndpoint.post("login", "/api/v1/auth/login", {
      payload: LoginRequest,
      success: SessionResponse,
      error: [InvalidCredentials, LoginThrottled, Overloaded]
    }).annotate(
      OpenApi.Summary,
      "Exchange email and password for an access token (failures are throttled per email and client address)"
    )
  )
  .add(
    HttpApiEndpoint.get("me", "/api/v1/auth/me", { success: UserView })
      .middleware(Authentication)
      .annotate(OpenApi.Summary, "The current user")
  )
  .add(
    HttpApiEndpoint.post("logout", "/api/v1/auth/logout", { error: Overloaded })
      .middleware(Authentication)
      .annotate(OpenApi.Summary, "Revoke the access token used for this request")
  )
  .annotate(OpenApi.Title, "Auth")
  .annotate(
    OpenApi.Description,
    "Accounts and access tokens: register, log in, the current user, log out. Failed logins and registrations are throttled per client address."
  ) {}
