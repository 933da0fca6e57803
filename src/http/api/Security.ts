import { HttpApiMiddleware, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Context, Schema } from "effect"
import type { Principal } from "../../programs/accounts.ts"
import { Overloaded, Unauthorized } from "../errors.ts"

/** The user a verified bearer token speaks for, provided to every protected handler. */
export class CurrentUser extends Context.Tag("CurrentUser")<CurrentUser, Principal>() {}

/**
 * Bearer-token authentication on every protected endpoint: signature and expiry, then the account's
 * own state (it exists, the token was not revoked by a logout). Every refusal is the same 401.
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("Authentication", {
  failure: Schema.Union(Unauthorized, Overloaded),
  provides: CurrentUser,
  security: {
    bearer: HttpApiSecurity.bearer.pipe(
      HttpApiSecurity.annotate(OpenApi.Description, "An access token from /api/v1/auth/register or /login")
    )
  }
}) {}
