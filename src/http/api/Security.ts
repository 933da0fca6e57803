import { HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "@effect/platform"
import { Context, Schema } from "effect"
import type { Principal } from "../../programs/accounts.ts"
import { Unauthorized } from "../errors.ts"

/** The user a verified bearer token speaks for, provided to every protected handler. */
export class CurrentUser extends Context.Tag("CurrentUser")<CurrentUser, Principal>() {}

/**
 * An entity's mailbox is full. Answered 503 with `Retry-After` (and the same number of seconds in
 * `details`), so clients and proxies know when to come back.
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()(
  "Overloaded",
  { message: Schema.String, details: Schema.Struct({ retry_after_seconds: Schema.Int }) },
  HttpApiSchema.annotations({
    status: 503,
    description: "Too many commands queued for this resource; see Retry-After"
  })
) {}

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

/** Page parameters shared by the listings. */
export const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))
export const Offset = Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 1_000_000))
export const DEFAULT_LIMIT = 20
