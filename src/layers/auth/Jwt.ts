import { Redacted, Result, Schema } from "effect"
import { createHmac, timingSafeEqual } from "node:crypto"

/**
 * Minimal HS256 JSON Web Tokens: only what FocusForge issues and accepts. The header is fixed, so a
 * token claiming another algorithm (`none`, RS256 with our secret as a public key, …) never verifies.
 */
export const Claims = Schema.Struct({
  sub: Schema.String,
  jti: Schema.String,
  iat: Schema.Int,
  exp: Schema.Int
})
export type Claims = typeof Claims.Type

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")
const decodeClaims = Schema.decodeUnknownResult(Schema.fromJsonString(Claims))

const sign = (secret: Redacted.Redacted<string>, input: string) =>
  createHmac("sha256", Redacted.value(secret)).update(input).digest()

export const issue = (secret: Redacted.Redacted<string>, claims: Claims): string => {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url")
  const input = `${HEADER}.${payload}`
  return `${input}.${sign(secret, input).toString("base64url")}`
}

export type InvalidReason = "malformed" | "signature" | "expired"

/** Verifies signature and expiry; `nowSeconds` comes from the caller's Clock so expiry is testable. */
export const verify = (
  secret: Redacted.Redacted<string>,
  token: string,
  nowSeconds: number
): Result.Result<Claims, InvalidReason> => {
  const parts = token.split(".")
  if (parts.length !== 3) return Result.fail("malformed")
  const [header, payload, signature] = parts as [string, string, string]
  if (header !== HEADER) return Result.fail("malformed")
  const expected = sign(secret, `${header}.${payload}`)
  const given = Buffer.from(signature, "base64url")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return Result.fail("signature")
  return Result.flatMap(
    Result.mapError(
      decodeClaims(Buffer.from(payload, "base64url").toString("utf8")),
      (): InvalidReason => "malformed"
    ),
    (claims) => (claims.exp <= nowSeconds ? Result.fail<InvalidReason>("expired") : Result.succeed(claims))
  )
}
