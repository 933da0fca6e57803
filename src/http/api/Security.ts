import { Context } from "effect"
import { HttpApiMiddleware, HttpApiSecurity, OpenApi } from "effect/http-api"
import type { Principal } from "../../programs/accounts.ts"
import { Overloaded, Unauthorized } from "../errors.ts"

/** The user a verified bearer token speaks for, provided to every protected handler. */
export class CurrentUser extends Context.Service<CurrentUser, Principal>()("CurrentUser") {}

/**
 * Bearer-token authentication on every protected endpoint: signature and expiry, then the account's
 * own state (it exists, the token was not revoked by a logout). Every refusal is the same 401.
 */
export class Authentication extends HttpApiMiddleware.Service<Authentication, { provides: CurrentUser }>()(
  "Authentication",
  {
    error: [Unauthorized, Overloaded],
    security: {
      bearer: HttpApiSecurity.bearer.pipe(
        HttpApiSecurity.annotate(OpenApi.Description, "An access token from /api/v1/auth/register or /login")
      )
    }
  }
) {}
