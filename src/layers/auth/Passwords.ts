import { Effect, Redacted } from "effect"
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"

/**
 * Password hashing with scrypt. The cost parameters are stored with each hash
 * (`scrypt$N$r$p$salt$hash`), so they can be raised later without invalidating stored passwords.
 * N = 2^15 costs ~50 ms of one core per hash: slow for a guesser, tolerable for a login.
 */
const PARAMS = { N: 2 ** 15, r: 8, p: 1 }
const KEY_LENGTH = 32
const SALT_LENGTH = 16

const derive = (password: string, salt: Buffer, params: typeof PARAMS) =>
  Effect.callback<Buffer>((resume) => {
    scrypt(password, salt, KEY_LENGTH, { ...params, maxmem: 256 * params.N * params.r }, (error, key) => {
      // scrypt only fails on invalid parameters, which are ours: a defect, not a domain error.
      resume(error ? Effect.die(error) : Effect.succeed(key))
    })
  })

export const hashPassword = (password: Redacted.Redacted<string>): Effect.Effect<string> => {
  const salt = randomBytes(SALT_LENGTH)
  return Effect.map(
    derive(Redacted.value(password), salt, PARAMS),
    (key) =>
      `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString("base64url")}$${key.toString("base64url")}`
  )
}

export const verifyPassword = (
  password: Redacted.Redacted<string>,
  stored: string
): Effect.Effect<boolean> => {
  const [scheme, n, r, p, salt, hash] = stored.split("$")
  if (scheme !== "scrypt" || !n || !r || !p || !salt || !hash) return Effect.succeed(false)
  const expected = Buffer.from(hash, "base64url")
  return Effect.map(
    derive(Redacted.value(password), Buffer.from(salt, "base64url"), {
      N: Number(n),
      r: Number(r),
      p: Number(p)
    }),
    (key) => key.length === expected.length && timingSafeEqual(key, expected)
  )
}
