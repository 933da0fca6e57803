import { Config, Context, Effect, Layer, type Redacted, Result, Schema } from "effect"
import { randomUUID } from "node:crypto"
import {
  type Account,
  type Email,
  emailSkeleton,
  isTokenRevoked,
  PasswordHash,
  Register,
  RehashPassword,
  RevokeToken,
  type UserView,
  userView,
  WeakPassword
} from "../domain/account.ts"
import { EmailTaken, InvalidCredentials } from "../domain/errors.ts"
import { TokenId, UserId } from "../domain/ids.ts"
import { AppConfig, describeConfigError, InvalidConfig, integerSetting } from "../layers/config/AppConfig.ts"
import { LoginThrottle } from "../layers/auth/LoginThrottle.ts"
import { type Claims, JwtOptionsConfig, makeJwtCodec } from "../layers/auth/Jwt.ts"
import { checkPasswordStrength } from "../layers/auth/PasswordStrength.ts"
import {
  DECOY_HASH,
  defaultHasherOptions,
  makePasswordHasher,
  PasswordHashingBusy,
  type PasswordHasherOptions
} from "../layers/auth/Passwords.ts"
import { Overloaded } from "../eventsourcing/EntityRuntime.ts"
import { Aggregates, emailEntityId, failsOnlyWith, now, storeFailuresAsDefects } from "./aggregates.ts"
import { withSpan } from "../layers/observability/spans.ts"

/** Lifetime of an access token; a logout revokes one before it ends. */
export const JwtTtlConfig = integerSetting("JWT_TTL_SECONDS", {
  message: "Expected a positive integer",
  validation: (n) => n > 0
}).pipe(Config.withDefault(86_400))

const positiveSetting = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected a positive integer", validation: (n) => n > 0 }).pipe(
    Config.withDefault(fallback)
  )

/** How many password hashes run at once and how many may wait; beyond that a login or registration is 503. */
export const PasswordHasherConfig = Config.all({
  concurrency: positiveSetting("PASSWORD_HASH_CONCURRENCY", defaultHasherOptions().concurrency),
  maxQueue: positiveSetting("PASSWORD_HASH_QUEUE", defaultHasherOptions().maxQueue)
}).pipe(Config.map((limits): PasswordHasherOptions => ({ ...defaultHasherOptions(), ...limits })))

/** A saturated hasher answers like a full mailbox: 503 with `Retry-After`. */
const busyAsOverloaded = <A, E, R>(
  self: Effect.Effect<A, E | PasswordHashingBusy, R>
): Effect.Effect<A, Exclude<E, PasswordHashingBusy> | Overloaded, R> =>
  Effect.catchIf(
    self,
    (error): error is PasswordHashingBusy => error instanceof PasswordHashingBusy,
    (busy) =>
      Effect.fail(new Overloaded({ entity: "password-hashing", retryAfterSeconds: busy.retryAfterSeconds }))
  ) as Effect.Effect<A, Exclude<E, PasswordHashingBusy> | Overloaded, R>

/** Why a bearer token was refused; clients only ever see 401, the reason goes to the logs. */
export class InvalidToken extends Schema.TaggedError<InvalidToken>()("InvalidToken", {
  reason: Schema.Literals(["missing", "malformed", "signature", "expired", "revoked", "unknown_user"])
}) {}

export interface Session {
  readonly user: UserView
  readonly access_token: string
  readonly expires_in: number
}

/** Who a verified token speaks for, and which token it is (for logout). */
export interface Principal {
  readonly user: UserView
  readonly token_id: TokenId
  readonly expires_at: Date
}

const decodeUserId = Schema.decodeUnknownResult(UserId)
const decodeTokenId = Schema.decodeUnknownResult(TokenId)

/**
 * The ids a token's claims name, decoded once per claims object: a remembered token's claims are the
 * same object on every request (see `Jwt.ts`).
 */
const claimIds = new WeakMap<Claims, Result.Result<{ userId: UserId; tokenId: TokenId }, InvalidToken>>()
const idsOfClaims = (claims: Claims) => {
  const known = claimIds.get(claims)
  if (known !== undefined) return known
  const malformed = () => new InvalidToken({ reason: "malformed" })
  const ids = Result.flatMap(Result.mapError(decodeUserId(claims.sub), malformed), (userId) =>
    Result.map(Result.mapError(decodeTokenId(claims.jti), malformed), (tokenId) => ({ userId, tokenId }))
  )
  claimIds.set(claims, ids)
  return ids
}

/**
 * Registration, login, token checks and logout over the `email` and `account` aggregates.
 *
 * Registration claims the address first (its stream's first claim wins, race-free), then registers the
 * account under the claimed user id. A crash between the two leaves a claim without an account; the
 * next registration of that address completes it under the claimed id, with that request's password
 * (nobody was ever given a token for it, so nobody loses anything). Of two registrations racing for
 * one address, the account stream decides: exactly one registers, the other gets `EmailTaken`.
 */
export class Accounts extends Context.Service<Accounts>()("Accounts", {
  make: Effect.gen(function* () {
    const { accounts, emails } = yield* Aggregates
    const throttle = yield* LoginThrottle
    const { jwtSecret } = yield* AppConfig
    const invalidConfig = (error: Config.ConfigError) =>
      new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
    const ttlSeconds = yield* JwtTtlConfig.pipe(Effect.mapError(invalidConfig))
    const jwtOptions = yield* JwtOptionsConfig.pipe(Effect.mapError(invalidConfig))
    const jwt = makeJwtCodec({ secret: jwtSecret, ...jwtOptions })
    const hasher = yield* makePasswordHasher(yield* PasswordHasherConfig.pipe(Effect.mapError(invalidConfig)))

    const issueSession = (account: Account) =>
      Effect.map(now, (at): Session => {
        const iat = Math.floor(at.getTime() / 1000)
        const access_token = jwt.issue({
          sub: account.id,
          jti: randomUUID(),
          iat,
          exp: iat + ttlSeconds
        })
        return { user: userView(account), access_token, expires_in: ttlSeconds }
      })

    /**
     * The confusable skeleton's claim, beside the address's own (the same stream when they are equal):
     * a look-alike of a registered address finds the skeleton taken. Accounts registered before this
     * claim existed get it on their next login.
     */
    const claimSkeleton = (email: Email, user_id: UserId, at: Date) => {
      const skeletonId = emailEntityId(emailSkeleton(email))
      return skeletonId === emailEntityId(email)
        ? Effect.void
        : Effect.asVoid(emails.send(skeletonId, { _tag: "ClaimEmail", email, user_id, at }))
    }

    /**
     * After a verified login: an old hash is replaced by one at today's parameters, and an account from
     * before skeleton claims gets its claim. Neither may fail the login: a busy hasher or a look-alike
     * that claimed the skeleton first only means it is not done this time.
     */
    const afterLogin = (account: Account, password: Redacted.Redacted<string>, needsRehash: boolean) =>
      Effect.gen(function* () {
        const at = yield* now
        if (needsRehash) {
          const password_hash = PasswordHash.make(yield* hasher.hash(password))
          yield* accounts.send(account.id, RehashPassword.make({ user_id: account.id, password_hash, at }))
        }
        yield* claimSkeleton(account.email, account.id, at)
      }).pipe(
        Effect.catchTags({
          PasswordHashingBusy: () => Effect.void,
          EmailTaken: () => Effect.void,
          AccountNotFound: () => Effect.void
        })
      )

    /** `client`: the address the request came from (see `src/http/clientAddress.ts`); throttled per address. */
    const register = (input: {
      readonly email: Email
      readonly password: Redacted.Redacted<string>
      readonly display_name: string
      readonly client: string
    }) =>
      Effect.gen(function* () {
        // Before the KDF: a refused registration costs nothing.
        yield* throttle.admitRegistration(input.client)
        const at = yield* now
        const weak = yield* checkPasswordStrength(input.password, [input.email, input.display_name])
        if (weak !== undefined)
          return yield* new WeakPassword({
            message: `Password ${weak.reason}; choose a longer or less common one`,
            details: { field: "password", score: weak.score }
          })
        const password_hash = PasswordHash.make(yield* hasher.hash(input.password))
        const claimId = emailEntityId(input.email)
        const user_id = yield* emails
          .send(claimId, { _tag: "ClaimEmail", email: input.email, user_id: UserId.make(randomUUID()), at })
          .pipe(
            Effect.map((result) => result.state.user_id),
            // Taken: either a live account (its Register below fails) or a claim a crash left behind.
            Effect.catchTag("EmailTaken", () =>
              Effect.map(emails.read(claimId), (view) => view.state.user_id)
            )
          )
        if (user_id === null) return yield* Effect.die(new Error(`email claim ${claimId} has no owner`))
        yield* claimSkeleton(input.email, user_id, at)
        const registered = yield* accounts
          .send(
            user_id,
            Register.make({
              user_id,
              email: input.email,
              display_name: input.display_name,
              password_hash,
              at
            })
          )
          .pipe(
            Effect.catchTag("AccountAlreadyRegistered", () =>
              Effect.fail(new EmailTaken({ message: "An account with this email already exists" }))
            )
          )
        const account = registered.state.account
        if (account === null) return yield* Effect.die(new Error(`account ${user_id} not registered`))
        return yield* issueSession(account)
      }).pipe(
        busyAsOverloaded,
        storeFailuresAsDefects,
        failsOnlyWith("EmailTaken", "WeakPassword", "RegistrationThrottled", "Overloaded"),
        withSpan("Accounts.register")
      )

    /**
     * Checks the password, throttled per (email, `client`) before anything is read: a known and an unknown
     * email take the same path (one KDF run, the decoy hash for an unknown one) and the same throttle.
     * Nothing is written: failures are counted by the throttle, not in the account's stream.
     */
    const login = (input: {
      readonly email: Email
      readonly password: Redacted.Redacted<string>
      readonly client: string
    }) =>
      Effect.gen(function* () {
        const invalid = new InvalidCredentials({ message: "Wrong email or password" })
        const claim = yield* emails.read(emailEntityId(input.email))
        const owner = claim.state.user_id
        const state = owner === null ? null : (yield* accounts.read(owner)).state
        const account = state?.account ?? null
        // A skeleton claim also points at its account: only the address itself logs in.
        if (owner === null || state === null || account === null || account.email !== input.email) {
          yield* hasher.verify(input.password, DECOY_HASH)
          return yield* Effect.fail(invalid)
        }
        const { ok, needsRehash } = yield* hasher.verify(input.password, account.password_hash)
        if (!ok) return yield* Effect.fail(invalid)
        yield* afterLogin(account, input.password, needsRehash)
        return yield* issueSession(account)
      }).pipe(
        busyAsOverloaded,
        storeFailuresAsDefects,
        // Keyed on the form that finds the account (the email claim's key): were look-alike spellings
        // of one address to reach one account, each must not get a throttle of its own.
        throttle.guardLogin(emailEntityId(input.email), input.client),
        failsOnlyWith("InvalidCredentials", "LoginThrottled", "Overloaded"),
        withSpan("Accounts.login")
      )

    /** Signature and expiry first (no I/O), then the account's own state: it exists, the token is not revoked. */
    const authenticate = (token: string) =>
      Effect.gen(function* () {
        if (token.length === 0) return yield* new InvalidToken({ reason: "missing" })
        const at = yield* now
        const claims = yield* jwt.verify(token, Math.floor(at.getTime() / 1000)).pipe(
          Result.mapError((reason) => new InvalidToken({ reason })),
          Effect.fromResult
        )
        const { userId, tokenId } = yield* Effect.fromResult(idsOfClaims(claims))
        const { state } = yield* accounts.read(userId)
        if (state.account === null) return yield* new InvalidToken({ reason: "unknown_user" })
        if (isTokenRevoked(state, tokenId)) return yield* new InvalidToken({ reason: "revoked" })
        return { user: userView(state.account), token_id: tokenId, expires_at: new Date(claims.exp * 1000) }
      }).pipe(storeFailuresAsDefects)

    const logout = (principal: Principal) =>
      Effect.gen(function* () {
        const at = yield* now
        yield* accounts.send(
          principal.user.id,
          RevokeToken.make({
            user_id: principal.user.id,
            token_id: principal.token_id,
            expires_at: principal.expires_at,
            at
          })
        )
      }).pipe(storeFailuresAsDefects, failsOnlyWith("Overloaded"), withSpan("Accounts.logout"))

    return { register, login, authenticate, logout, ttlSeconds } as const
  })
}) {
  /** With its own login throttle; Aggregates, AppConfig (and Redis, when present) from the caller's graph. */
  static readonly layer = Layer.effect(this, this.make).pipe(Layer.provide(LoginThrottle.layer))
  /** Without the throttle, for tests that bring their own (`LoginThrottle.layerWith`). */
  static readonly layerNoDeps = Layer.effect(this, this.make)
}
