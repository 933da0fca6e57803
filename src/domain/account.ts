import { Result, Schema, SchemaTransformation } from "effect"
import { compiledMake, entryOf, fromUnknown, Timestamp } from "./common.ts"
import type { Decider } from "./Decider.ts"
import { AccountAlreadyRegistered, AccountNotFound, EmailTaken } from "./errors.ts"
import { TokenId, UserId } from "./ids.ts"
import { skeleton } from "./skeleton.ts"

/**
 * Accounts. Two aggregates, because uniqueness and ownership have different keys:
 * - `email` (stream per normalised email) claims an address for one user id: the only place that
 *   can decide "this email is taken" without a race, since two registrations of one address append
 *   to the same stream with an expected version;
 * - `account` (stream per user id) holds the profile, the password hash and the revoked tokens.
 * Failed logins are not recorded here: they are throttled per (email, client address) outside the event
 * store (`src/layers/auth/LoginThrottle.ts`), so that no one can lock an account by failing on purpose
 * and no failed guess writes to the store.
 * Hashing and verifying passwords is I/O-heavy work (a slow KDF) and stays outside: commands carry
 * the hash.
 */

// ---------------------------------------------------------------------------------------------
// Values

/**
 * What a typed address becomes before it is looked up or stored: trimmed, NFKC-normalised (full-width
 * and compatibility forms folded: `ａｎｎ＠ｘ.ｃｏｍ` → `ann@x.com`) and lower-cased. Plain ASCII addresses
 * come out as they always did (`trim().toLowerCase()`), so their claim streams keep their ids.
 */
export const normaliseEmail = (email: string): string =>
  email.trim().normalize("NFKC").toLowerCase().normalize("NFKC")

/**
 * A stored address: lower-case, `local@domain.tld`, at most 254 characters (RFC 5321). Stored data
 * must keep decoding, so this stays as lenient as it was; the stricter rules for new input are in
 * `EmailFromInput`.
 */
export const Email = Schema.String.check(
  Schema.isMaxLength(254),
  Schema.isLowercased(),
  Schema.isPattern(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: "must be an email address" })
)
  .pipe(Schema.brand("Email"))
  .annotate({ identifier: "Email" })
export type Email = typeof Email.Type

/** Control, format (zero-width), private-use and unassigned code points: invisible or meaningless in text. */
const INVISIBLE = /\p{C}/u

/** An address as new input may give it: no invisible characters (a trailing NUL made a second account). */
const NewEmail = Email.check(
  Schema.makeFilter((email: string) => !INVISIBLE.test(email), {
    message: "must not contain control or invisible characters"
  })
)

/**
 * What a client types, decoded into the normalised `Email`: `" Ann@Example.COM "` → `ann@example.com`.
 * Invisible characters are refused, not stripped: a client that sends them has a bug to hear about.
 */
export const EmailFromInput = Schema.String.check(Schema.isMaxLength(320))
  .pipe(
    Schema.decodeTo(
      NewEmail,
      SchemaTransformation.transform({ decode: normaliseEmail, encode: (email: string) => email })
    )
  )
  .annotate({ identifier: "EmailInput" })

/**
 * The key that decides whether an address is taken: its UTS #39 confusable skeleton, so look-alikes
 * (`аnn@x.com` in Cyrillic beside `ann@x.com`) cannot both register. For most ASCII addresses the
 * skeleton is the address itself, and both claims are one stream.
 */
export const emailSkeleton = (email: Email): string => skeleton(email)

export const DisplayName = Schema.String.check(
  Schema.isTrimmed(),
  Schema.isMinLength(1),
  Schema.isMaxLength(100),
  Schema.makeFilter((name: string) => !/\p{Cc}/u.test(name), {
    message: "must not contain control characters"
  })
).annotate({ identifier: "DisplayName" })

/** NIST SP 800-63B 5.1.1.2: at least 8 characters; we allow up to 128. Counted in code points after NFKC. */
export const PASSWORD_MIN_LENGTH = 8
export const PASSWORD_MAX_LENGTH = 128

const codePoints = (text: string): number => [...text.normalize("NFKC")].length

/**
 * A new password (registration): 8 to 128 characters after NFKC normalisation, no control characters
 * and not only spaces. Whether it is common is checked afterwards (`WeakPassword`), by a dictionary
 * too large to load at start-up. Messages never repeat the value.
 */
export const Password = Schema.String.check(
  Schema.isMaxLength(4 * PASSWORD_MAX_LENGTH, {
    message: `must be at most ${PASSWORD_MAX_LENGTH} characters`
  }),
  Schema.makeFilter((password: string) => codePoints(password) >= PASSWORD_MIN_LENGTH, {
    message: `must be at least ${PASSWORD_MIN_LENGTH} characters`
  }),
  Schema.makeFilter((password: string) => codePoints(password) <= PASSWORD_MAX_LENGTH, {
    message: `must be at most ${PASSWORD_MAX_LENGTH} characters`
  }),
  Schema.makeFilter((password: string) => !/\p{Cc}/u.test(password), {
    message: "must not contain control characters"
  }),
  Schema.makeFilter((password: string) => password.trim().length > 0, { message: "must not be blank" })
).annotate({ identifier: "Password" })

/**
 * A password offered at login. Only bounded, never judged: accounts registered under older rules keep
 * their passwords, and the length bound caps the work one request can ask of the KDF.
 */
export const LoginPassword = Schema.String.check(
  Schema.isMinLength(1, { message: "must not be empty" }),
  Schema.isMaxLength(1024, { message: "must be at most 1024 characters" })
).annotate({ identifier: "LoginPassword" })

/** A new password that is common or too easy to guess (zxcvbn with the common dictionaries). */
export class WeakPassword extends Schema.TaggedError<WeakPassword>()(
  "WeakPassword",
  {
    message: Schema.String,
    details: Schema.Struct({ field: Schema.Literal("password"), score: Schema.Int })
  },
  { httpApiStatus: 422, description: "The password is common or too easy to guess" }
) {}

/** An encoded KDF hash (algorithm, parameters, salt, digest); never leaves the server. */
export const PasswordHash = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(1024)).pipe(
  Schema.brand("PasswordHash")
)
export type PasswordHash = typeof PasswordHash.Type

export const Account = Schema.Struct({
  id: UserId,
  email: Email,
  display_name: Schema.String,
  password_hash: PasswordHash,
  created_at: Timestamp,
  updated_at: Timestamp
}).annotate({ identifier: "Account" })
export type Account = typeof Account.Type

/** The account as the API shows it: never the password hash. */
export const UserView = Schema.Struct({
  id: UserId,
  email: Email,
  display_name: Schema.String,
  created_at: Timestamp
}).annotate({ identifier: "User" })
export type UserView = typeof UserView.Type

export const userView = (account: Account): UserView => ({
  id: account.id,
  email: account.email,
  display_name: account.display_name,
  created_at: account.created_at
})

// ---------------------------------------------------------------------------------------------
// Account aggregate

export const Register = compiledMake(
  Schema.TaggedStruct("Register", {
    user_id: UserId,
    email: Email,
    display_name: DisplayName,
    password_hash: PasswordHash,
    at: Timestamp
  })
)
export type Register = typeof Register.Type

export const UpdateProfile = compiledMake(
  Schema.TaggedStruct("UpdateProfile", {
    user_id: UserId,
    display_name: Schema.optionalKey(DisplayName),
    at: Timestamp
  })
)
export type UpdateProfile = typeof UpdateProfile.Type

/** Logout: the token stays revoked until it would have expired anyway, then it is forgotten. */
export const RevokeToken = compiledMake(
  Schema.TaggedStruct("RevokeToken", {
    user_id: UserId,
    token_id: TokenId,
    expires_at: Timestamp,
    at: Timestamp
  })
)
export type RevokeToken = typeof RevokeToken.Type

/**
 * A verified password's hash replaced by one at today's parameters (an older scheme's, e.g. scrypt,
 * or weaker argon2 settings). Only a login can do it: the password is needed and is never stored.
 */
export const RehashPassword = compiledMake(
  Schema.TaggedStruct("RehashPassword", {
    user_id: UserId,
    password_hash: PasswordHash,
    at: Timestamp
  })
)
export type RehashPassword = typeof RehashPassword.Type

export const AccountCommand = Schema.Union([Register, UpdateProfile, RevokeToken, RehashPassword])
export type AccountCommand = typeof AccountCommand.Type

export const AccountRegistered = compiledMake(
  Schema.TaggedStruct("AccountRegistered", {
    user_id: UserId,
    email: Email,
    display_name: Schema.String,
    password_hash: PasswordHash,
    at: Timestamp
  })
)
export const ProfileUpdated = compiledMake(
  Schema.TaggedStruct("ProfileUpdated", {
    user_id: UserId,
    display_name: Schema.optionalKey(Schema.String),
    at: Timestamp
  })
)
/**
 * `LoginSucceeded` and `LoginFailed` were written by builds before issue 16, which kept a per-account
 * lockout in this aggregate. Nothing writes them any more; they stay decodable (stored data is forever)
 * and replay as no-ops, so an account such a build locked is not locked by this one.
 */
export const LoginSucceeded = compiledMake(
  Schema.TaggedStruct("LoginSucceeded", { user_id: UserId, at: Timestamp })
)
export const LoginFailed = compiledMake(
  Schema.TaggedStruct("LoginFailed", {
    user_id: UserId,
    /** Set when this failure locked the account (ignored since issue 16). */
    locked_until: Schema.NullOr(Timestamp),
    at: Timestamp
  })
)
export const TokenRevoked = compiledMake(
  Schema.TaggedStruct("TokenRevoked", {
    user_id: UserId,
    token_id: TokenId,
    expires_at: Timestamp,
    at: Timestamp
  })
)

/** Stored since the argon2id change; events written before it never contain it. */
export const PasswordRehashed = compiledMake(
  Schema.TaggedStruct("PasswordRehashed", {
    user_id: UserId,
    password_hash: PasswordHash,
    at: Timestamp
  })
)

export const AccountEvent = Schema.Union([
  AccountRegistered,
  ProfileUpdated,
  LoginSucceeded,
  LoginFailed,
  TokenRevoked,
  PasswordRehashed
])
export type AccountEvent = typeof AccountEvent.Type

export type AccountError = AccountAlreadyRegistered | AccountNotFound

export const AccountState = Schema.Struct({
  account: Schema.NullOr(Account),
  // Snapshots of earlier builds also hold `login` (the lockout record); decoding drops it.
  /**
   * Revoked token id → the token's own expiry; entries past it are dropped as new ones arrive. Keyed by
   * `TokenId`, what `TokenRevoked` has always carried, so no key needs a JSON escape (see README, Runtime).
   */
  revoked_tokens: Schema.Record(TokenId, Timestamp)
}).annotate({ identifier: "AccountState" })
export type AccountState = typeof AccountState.Type

export const initialAccountState: AccountState = {
  account: null,
  revoked_tokens: {}
}

export const isTokenRevoked = (state: AccountState, tokenId: string): boolean =>
  entryOf(state.revoked_tokens, tokenId) !== undefined

/**
 * The revoked tokens that could still be presented at `at`: a token past its own expiry is refused
 * for that reason alone, so remembering its revocation would only grow the state forever.
 */
export const liveRevocations = (
  revoked: AccountState["revoked_tokens"],
  at: Date
): AccountState["revoked_tokens"] => {
  const now = at.getTime()
  const entries = Object.entries(revoked)
  const kept = entries.filter(([, expiresAt]) => expiresAt.getTime() > now)
  return kept.length === entries.length ? revoked : Object.fromEntries(kept)
}

export const decideAccount = (
  state: AccountState,
  command: AccountCommand
): Result.Result<ReadonlyArray<AccountEvent>, AccountError> => {
  if (command._tag === "Register") {
    if (state.account !== null) {
      return Result.fail(
        new AccountAlreadyRegistered({ message: `Account ${command.user_id} already exists` })
      )
    }
    return Result.succeed([
      AccountRegistered.make({
        user_id: command.user_id,
        email: command.email,
        display_name: command.display_name,
        password_hash: command.password_hash,
        at: command.at
      })
    ])
  }
  if (state.account === null || state.account.id !== command.user_id) {
    return Result.fail(new AccountNotFound({ message: `Account ${command.user_id} not found` }))
  }
  switch (command._tag) {
    case "UpdateProfile":
      return Result.succeed([
        ProfileUpdated.make({
          user_id: command.user_id,
          ...(command.display_name === undefined ? {} : { display_name: command.display_name }),
          at: command.at
        })
      ])
    case "RevokeToken":
      // A token that has expired already needs no revocation: it is refused anyway.
      if (command.expires_at.getTime() <= command.at.getTime()) return Result.succeed([])
      return Result.succeed([
        TokenRevoked.make({
          user_id: command.user_id,
          token_id: command.token_id,
          expires_at: command.expires_at,
          at: command.at
        })
      ])
    case "RehashPassword":
      return Result.succeed([
        PasswordRehashed.make({
          user_id: command.user_id,
          password_hash: command.password_hash,
          at: command.at
        })
      ])
  }
}

/** Every event moves the clock the state knows, so expired revocations drop out on any of them. */
export const evolveAccount = (state: AccountState, event: AccountEvent): AccountState => {
  const revoked_tokens = liveRevocations(state.revoked_tokens, event.at)
  return applyAccountEvent(
    revoked_tokens === state.revoked_tokens ? state : { ...state, revoked_tokens },
    event
  )
}

const applyAccountEvent = (state: AccountState, event: AccountEvent): AccountState => {
  switch (event._tag) {
    case "AccountRegistered":
      return {
        ...state,
        account: {
          id: event.user_id,
          email: event.email,
          display_name: event.display_name,
          password_hash: event.password_hash,
          created_at: event.at,
          updated_at: event.at
        }
      }
    case "ProfileUpdated":
      return state.account === null
        ? state
        : {
            ...state,
            account: {
              ...state.account,
              ...(event.display_name === undefined ? {} : { display_name: event.display_name }),
              updated_at: event.at
            }
          }
    case "LoginSucceeded":
    case "LoginFailed":
      return state
    case "TokenRevoked":
      return event.expires_at.getTime() <= event.at.getTime()
        ? state
        : { ...state, revoked_tokens: { ...state.revoked_tokens, [event.token_id]: event.expires_at } }
    case "PasswordRehashed":
      return state.account === null
        ? state
        : {
            ...state,
            account: { ...state.account, password_hash: event.password_hash, updated_at: event.at }
          }
  }
}

export const AccountDecider: Decider<AccountState, AccountCommand, AccountEvent, AccountError> = {
  type: "account",
  initialState: initialAccountState,
  decide: decideAccount,
  evolve: evolveAccount,
  event: fromUnknown(AccountEvent),
  state: fromUnknown(AccountState)
}

// ---------------------------------------------------------------------------------------------
// Email claim aggregate (stream per normalised email)

export const ClaimEmail = compiledMake(
  Schema.TaggedStruct("ClaimEmail", { email: Email, user_id: UserId, at: Timestamp })
)
export type ClaimEmail = typeof ClaimEmail.Type

export const EmailClaimed = compiledMake(
  Schema.TaggedStruct("EmailClaimed", {
    email: Email,
    user_id: UserId,
    at: Timestamp
  })
)
export type EmailClaimed = typeof EmailClaimed.Type

export const EmailClaimState = Schema.Struct({ user_id: Schema.NullOr(UserId) }).annotate({
  identifier: "EmailClaimState"
})
export type EmailClaimState = typeof EmailClaimState.Type

/**
 * The first claim wins; the same user claiming again is a retry and writes nothing. Login looks the
 * address up here to find the account.
 */
export const decideEmailClaim = (
  state: EmailClaimState,
  command: ClaimEmail
): Result.Result<ReadonlyArray<EmailClaimed>, EmailTaken> => {
  if (state.user_id === null)
    return Result.succeed([
      EmailClaimed.make({ email: command.email, user_id: command.user_id, at: command.at })
    ])
  if (state.user_id === command.user_id) return Result.succeed([])
  return Result.fail(new EmailTaken({ message: "An account with this email already exists" }))
}

export const EmailClaimDecider: Decider<EmailClaimState, ClaimEmail, EmailClaimed, EmailTaken> = {
  type: "email",
  initialState: { user_id: null },
  decide: decideEmailClaim,
  evolve: (state, event) => (state.user_id === null ? { user_id: event.user_id } : state),
  event: fromUnknown(EmailClaimed),
  state: fromUnknown(EmailClaimState)
}
