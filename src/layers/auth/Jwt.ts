import { Config, Effect, Redacted, Result, Schema } from "effect"
import { createSigner, createVerifier, TokenError } from "fast-jwt"
import { createHash } from "node:crypto"
import { invalidSetting } from "../config/AppConfig.ts"

/**
 * HS256 access tokens through fast-jwt (synchronous; measured against jose and our former hand-rolled
 * verifier in bench/jwt.ts). Every token names its key (`kid`, derived from the secret) and carries
 * `iss` and `aud`; a token is accepted when its `kid` is the current secret's or one of
 * `JWT_PREVIOUS_SECRETS`', so rotating the secret logs nobody out until their tokens expire. Only HS256
 * verifies: a token claiming `none`, RS256 or anything else is malformed. Expiry is checked against the
 * caller's clock, not fast-jwt's, so it follows Effect's `Clock` (and `TestClock`).
 */
export const Claims = Schema.Struct({
  sub: Schema.String,
  jti: Schema.String,
  iat: Schema.Int,
  exp: Schema.Int
})
export type Claims = typeof Claims.Type

export interface JwtSettings {
  readonly secret: Redacted.Redacted<string>
  /** Older secrets still accepted for verification; never used to sign. */
  readonly previousSecrets: ReadonlyArray<Redacted.Redacted<string>>
  readonly issuer: string
  readonly audience: string
}

export type InvalidReason = "malformed" | "signature" | "expired"

export interface JwtCodec {
  readonly issue: (claims: Claims) => string
  /** Signature, algorithm, `kid`, `iss`, `aud` and claim shapes; then expiry against `nowSeconds`. */
  readonly verify: (token: string, nowSeconds: number) => Result.Result<Claims, InvalidReason>
  /** The `kid` new tokens carry. */
  readonly kid: string
}

/**
 * A key's id: a hash of the secret, so operators configure secrets only and a rotation cannot pair a
 * secret with the wrong id. Eight bytes of SHA-256 tell keys apart and say nothing usable about them.
 */
export const keyId = (secret: Redacted.Redacted<string>): string =>
  createHash("sha256")
    .update("focusforge-jwt-kid\0")
    .update(Redacted.value(secret))
    .digest("base64url")
    .slice(0, 11)

/**
 * An HS256 signature is 32 bytes: exactly 43 base64url characters, no padding, and the last one carrying
 * 2 bits with its 4 unused bits zero. fast-jwt decodes leniently (it ignores those bits), so without this
 * one token would have several spellings that verify.
 */
const CANONICAL_SIGNATURE = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/

const decodeClaims = Schema.decodeUnknownResult(Claims)

/** Bounds the header memo: a client sending endless header variants for one kid only misses it. */
const MAX_KNOWN_HEADERS = 32

const headerKid = (segment: string): string | undefined => {
  try {
    const header: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"))
    if (typeof header !== "object" || header === null || !Object.hasOwn(header, "kid")) return undefined
    const kid: unknown = (header as { readonly kid: unknown }).kid
    return typeof kid === "string" ? kid : undefined
  } catch {
    return undefined
  }
}

/**
 * Tokens whose signature and claims were verified, per key: an HMAC over the token plus fast-jwt's decode
 * cost ~35 µs, on every authenticated request, for the same few tokens over and over. Keyed by the token
 * itself (fast-jwt's default key is a SHA-512 of the token, which costs as much as the HMAC it saves), so a
 * hit is an exact match of a string that verified: nothing can be forged into the cache. Bounded (LRU,
 * ~1.5 MB at most) and each entry lives 10 minutes at most (fast-jwt's `cacheTTL`); expiry is still
 * checked against the caller's clock on every call, after the cache.
 */
const VERIFIED_TOKENS_CACHED = 4096

const reasonOf = (error: unknown): InvalidReason =>
  error instanceof TokenError && error.code === TokenError.codes.invalidSignature ? "signature" : "malformed"

const CACHE_KEY_BUILDER_WARNING = "FAST_JWT_CACHE_KEY_BUILDER_SECURITY_RISK"

/**
 * fast-jwt warns on every verifier with a custom `cacheKeyBuilder` (GHSA-rp9m-7r4c-75qg: a builder that
 * maps two tokens to one key would let one pass as the other). Ours is the identity, the token itself,
 * so no two tokens share a key, and it spares the default builder's SHA-256 per request. That one
 * warning, and only it, is kept off stderr while the verifier is built (synchronously).
 */
const withoutCacheKeyBuilderWarning = <A>(build: () => A): A => {
  const emitWarning = process.emitWarning
  process.emitWarning = function (this: NodeJS.Process, ...args: Parameters<typeof process.emitWarning>) {
    const [, options] = args
    const code = typeof options === "object" && options !== null && "code" in options ? options.code : options
    if (code !== CACHE_KEY_BUILDER_WARNING) emitWarning.apply(this, args)
  } as typeof process.emitWarning
  try {
    return build()
  } finally {
    process.emitWarning = emitWarning
  }
}

export const makeJwtCodec = (settings: JwtSettings): JwtCodec => {
  const kid = keyId(settings.secret)
  const sign = createSigner({
    key: Redacted.value(settings.secret),
    algorithm: "HS256",
    kid,
    iss: settings.issuer,
    aud: settings.audience
  })
  const verifierFor = (secret: Redacted.Redacted<string>) =>
    withoutCacheKeyBuilderWarning(() =>
      createVerifier({
        key: Redacted.value(secret),
        algorithms: ["HS256"],
        allowedIss: settings.issuer,
        allowedAud: settings.audience,
        requiredClaims: ["iss", "aud", "sub", "jti", "iat", "exp"],
        ignoreExpiration: true,
        ignoreNotBefore: true,
        cache: VERIFIED_TOKENS_CACHED,
        cacheKeyBuilder: (token: string) => token
      })
    )
  const verifiers = new Map<string, (token: string) => unknown>()
  for (const secret of [...settings.previousSecrets].reverse())
    verifiers.set(keyId(secret), verifierFor(secret))
  verifiers.set(kid, verifierFor(settings.secret))

  // Our tokens share a handful of header spellings (one per kid): remember them rather than parse each.
  const knownHeaders = new Map<string, (token: string) => unknown>()
  const verifierOf = (header: string) => {
    const known = knownHeaders.get(header)
    if (known !== undefined) return known
    const verifier = verifiers.get(headerKid(header) ?? "")
    if (verifier !== undefined && knownHeaders.size < MAX_KNOWN_HEADERS) knownHeaders.set(header, verifier)
    return verifier
  }

  // A remembered token's payload is the same object on every hit: its claims are decoded once.
  const decoded = new WeakMap<object, Result.Result<Claims, InvalidReason>>()
  const claimsOf = (payload: unknown): Result.Result<Claims, InvalidReason> => {
    if (typeof payload !== "object" || payload === null) return Result.fail("malformed")
    const known = decoded.get(payload)
    if (known !== undefined) return known
    const claims = Result.mapError(decodeClaims(payload), (): InvalidReason => "malformed")
    decoded.set(payload, claims)
    return claims
  }

  const verify = (token: string, nowSeconds: number): Result.Result<Claims, InvalidReason> => {
    const parts = token.split(".")
    if (parts.length !== 3) return Result.fail("malformed")
    const [header, , signature] = parts as [string, string, string]
    const verifier = verifierOf(header)
    if (verifier === undefined) return Result.fail("malformed")
    if (!CANONICAL_SIGNATURE.test(signature)) return Result.fail("signature")
    let payload: unknown
    try {
      payload = verifier(token)
    } catch (error) {
      return Result.fail(reasonOf(error))
    }
    return Result.flatMap(claimsOf(payload), (claims) =>
      claims.exp <= nowSeconds ? Result.fail<InvalidReason>("expired") : Result.succeed(claims)
    )
  }

  return { issue: (claims) => sign({ ...claims }), verify, kid }
}

// ---------------------------------------------------------------------------------------------
// Configuration

const MIN_SECRET_LENGTH = 32

/** `JWT_PREVIOUS_SECRETS`: comma-separated, each at least 32 characters; blank entries are ignored. */
export const PreviousSecretsConfig = Config.Redacted("JWT_PREVIOUS_SECRETS").pipe(
  Config.mapEffect((raw) => {
    const secrets = Redacted.value(raw)
      .split(",")
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0)
    return secrets.every((secret) => secret.length >= MIN_SECRET_LENGTH)
      ? Effect.succeed(secrets.map((secret) => Redacted.make(secret)))
      : Effect.fail(
          invalidSetting(
            "JWT_PREVIOUS_SECRETS",
            `Expected secrets of at least ${MIN_SECRET_LENGTH} characters`
          )
        )
  }),
  Config.withDefault<ReadonlyArray<Redacted.Redacted<string>>>([])
)

const claimValue = (name: string) =>
  Config.String(name).pipe(
    Config.mapEffect((raw) =>
      raw.trim().length > 0 && raw.trim() === raw
        ? Effect.succeed(raw)
        : Effect.fail(invalidSetting(name, "Expected a non-blank value without surrounding spaces"))
    ),
    Config.withDefault("focusforge")
  )

/** Everything about tokens besides the current secret (which `AppConfig` owns). */
export const JwtOptionsConfig = Config.all({
  previousSecrets: PreviousSecretsConfig,
  issuer: claimValue("JWT_ISSUER"),
  audience: claimValue("JWT_AUDIENCE")
})
