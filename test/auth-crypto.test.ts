import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Redacted, Result } from "effect"
import { randomBytes, scryptSync } from "node:crypto"
import { type Claims, type JwtSettings, keyId, makeJwtCodec } from "../src/layers/auth/Jwt.ts"
import {
  DECOY_HASH,
  makePasswordHasher,
  type PasswordHasherOptions,
  verifyArgon2With
} from "../src/layers/auth/Passwords.ts"

const secret = Redacted.make("a-test-secret-of-at-least-thirty-two-chars")
const claims: Claims = { sub: "user-1", jti: "token-1", iat: 1_000, exp: 2_000 }
const settings: JwtSettings = { secret, previousSecrets: [], issuer: "focusforge", audience: "focusforge" }
const codec = makeJwtCodec(settings)

/** A hash as builds before argon2id wrote it: `scrypt$N$r$p$salt$hash` over the raw password. */
const legacyScrypt = (password: string): string => {
  const salt = randomBytes(16)
  const key = scryptSync(password, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
  return `scrypt$32768$8$1$${salt.toString("base64url")}$${key.toString("base64url")}`
}

const hasherWith = (options: Partial<PasswordHasherOptions> = {}) =>
  makePasswordHasher({ concurrency: 1, maxQueue: 64, retryAfterSeconds: 1, ...options })

describe("passwords", () => {
  it.effect("an argon2 library that cannot be loaded is a defect, never a wrong password", () =>
    Effect.gen(function* () {
      const missing = () => Promise.reject(new Error("Cannot find module '@node-rs/argon2'"))
      const exit = yield* Effect.exit(verifyArgon2With(missing, Redacted.make("correct horse"), DECOY_HASH))
      expect(exit._tag).toBe("Failure")
      // A malformed stored hash, with the library there, is just no match.
      const present = () => import("@node-rs/argon2")
      expect(yield* verifyArgon2With(present, Redacted.make("correct horse"), "$argon2id$garbage")).toBe(
        false
      )
    })
  )

  it.effect("hash with argon2id at OWASP's parameters; verify the right password, reject a wrong one", () =>
    Effect.gen(function* () {
      const hasher = yield* hasherWith()
      const stored = yield* hasher.hash(Redacted.make("correct horse"))
      expect(stored).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
      expect(yield* hasher.verify(Redacted.make("correct horse"), stored)).toEqual({
        ok: true,
        needsRehash: false
      })
      expect(yield* hasher.verify(Redacted.make("correct horsf"), stored)).toEqual({
        ok: false,
        needsRehash: false
      })
      expect(yield* hasher.verify(Redacted.make("correct horse"), "garbage")).toEqual({
        ok: false,
        needsRehash: false
      })
      expect(yield* hasher.verify(Redacted.make("correct horse"), "$argon2id$broken")).toEqual({
        ok: false,
        needsRehash: false
      })
    })
  )

  it.effect("salt each hash", () =>
    Effect.gen(function* () {
      const hasher = yield* hasherWith()
      const a = yield* hasher.hash(Redacted.make("same"))
      const b = yield* hasher.hash(Redacted.make("same"))
      expect(a).not.toBe(b)
    })
  )

  it.effect("hash the NFKC form: a full-width spelling of the password verifies", () =>
    Effect.gen(function* () {
      const hasher = yield* hasherWith()
      const stored = yield* hasher.hash(Redacted.make("Passphrase42"))
      expect((yield* hasher.verify(Redacted.make("Ｐａｓｓｐｈｒａｓｅ４２"), stored)).ok).toBe(true)
    })
  )

  it.effect("verify old scrypt hashes (stored data is forever) and ask for a rehash on success only", () =>
    Effect.gen(function* () {
      const hasher = yield* hasherWith()
      const stored = legacyScrypt("correct horse")
      expect(yield* hasher.verify(Redacted.make("correct horse"), stored)).toEqual({
        ok: true,
        needsRehash: true
      })
      expect(yield* hasher.verify(Redacted.make("wrong horse"), stored)).toEqual({
        ok: false,
        needsRehash: false
      })
      // Parameters scrypt refuses match nothing instead of crashing.
      expect((yield* hasher.verify(Redacted.make("x"), "scrypt$3$8$1$c2FsdA$aGFzaA")).ok).toBe(false)
    })
  )

  it.effect("a weaker argon2 hash verifies and asks for a rehash", () =>
    Effect.gen(function* () {
      const { hash } = yield* Effect.promise(() => import("@node-rs/argon2"))
      const weak = yield* Effect.promise(() =>
        hash("correct horse", { memoryCost: 8192, timeCost: 1, parallelism: 1 })
      )
      const hasher = yield* hasherWith()
      expect(yield* hasher.verify(Redacted.make("correct horse"), weak)).toEqual({
        ok: true,
        needsRehash: true
      })
    })
  )

  it.effect("the decoy hash is argon2id at today's parameters and matches nothing typed", () =>
    Effect.gen(function* () {
      const hasher = yield* hasherWith()
      expect(DECOY_HASH).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
      expect((yield* hasher.verify(Redacted.make("correct horse battery"), DECOY_HASH)).ok).toBe(false)
    })
  )

  it.effect(
    "hashing is bounded: beyond concurrency + queue a caller is refused at once, then places free up",
    () =>
      Effect.gen(function* () {
        const hasher = yield* hasherWith({ concurrency: 1, maxQueue: 2, retryAfterSeconds: 3 })
        const fibers = yield* Effect.forEach([1, 2, 3], (i) =>
          Effect.forkChild(hasher.hash(Redacted.make(`password number ${i}`)))
        )
        yield* Effect.yieldNow
        expect(hasher.pending()).toBe(3)
        const refused = yield* Effect.flip(hasher.verify(Redacted.make("one too many"), DECOY_HASH))
        expect(refused._tag).toBe("PasswordHashingBusy")
        expect(refused.retryAfterSeconds).toBe(3)
        const hashes = yield* Fiber.joinAll(fibers)
        expect(hashes).toHaveLength(3)
        expect(hasher.pending()).toBe(0)
        // An interrupted waiter gives its place back too.
        const waiting = yield* Effect.forEach([1, 2, 3], () =>
          Effect.forkChild(hasher.hash(Redacted.make("x")))
        )
        yield* Effect.yieldNow
        yield* Fiber.interruptAll(waiting)
        expect(hasher.pending()).toBe(0)
      })
  )

  it.effect("argon2 runs off the event loop: the loop keeps turning while a hash is computed", () =>
    Effect.gen(function* () {
      const hasher = yield* hasherWith()
      yield* hasher.hash(Redacted.make("warm the addon up"))
      const done = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(
        hasher
          .hash(Redacted.make("a hash on the thread pool"))
          .pipe(Effect.andThen(Deferred.succeed(done, undefined)))
      )
      // Had the hash run on this thread, no turn of the loop could happen until it returned.
      const turns = yield* Effect.promise(
        () =>
          new Promise<number>((resolve) => {
            let count = 0
            const spin = () => {
              count += 1
              if (Deferred.isDoneUnsafe(done)) resolve(count)
              else setImmediate(spin)
            }
            setImmediate(spin)
          })
      )
      yield* Fiber.join(fiber)
      expect(turns).toBeGreaterThan(10)
    })
  )
})

describe("tokens", () => {
  it("building a codec puts no warning on stderr (fast-jwt's custom cacheKeyBuilder notice), and others still pass", async () => {
    const seen: Array<string> = []
    const listener = (warning: Error & { code?: string }) => seen.push(warning.code ?? warning.message)
    process.on("warning", listener)
    try {
      makeJwtCodec({ ...settings, previousSecrets: [Redacted.make(randomBytes(32).toString("hex"))] })
      process.emitWarning("still reported", { code: "FF_TEST_WARNING" })
      await new Promise((resolve) => setImmediate(resolve))
    } finally {
      process.off("warning", listener)
    }
    expect(seen).toEqual(["FF_TEST_WARNING"])
  })

  const [header, payload, signature] = codec.issue(claims).split(".") as [string, string, string]

  it("round-trip before expiry, with iss, aud and the key's kid", () => {
    const token = codec.issue(claims)
    expect(codec.verify(token, 1_500)).toEqual(Result.succeed(claims))
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({
      alg: "HS256",
      typ: "JWT",
      kid: keyId(secret)
    })
    expect(JSON.parse(Buffer.from(payload, "base64url").toString())).toMatchObject({
      ...claims,
      iss: "focusforge",
      aud: "focusforge"
    })
  })

  it("expire by the caller's clock", () => {
    expect(codec.verify(codec.issue(claims), 2_000)).toEqual(Result.fail("expired"))
  })

  it("a token verified before (cached) still expires by the caller's clock and matches exactly", () => {
    const token = codec.issue(claims)
    expect(codec.verify(token, 1_500)).toEqual(Result.succeed(claims))
    expect(codec.verify(token, 1_500)).toEqual(Result.succeed(claims))
    expect(codec.verify(token, 2_000)).toEqual(Result.fail("expired"))
    // One character more or less than a verified token is another token: verified from scratch.
    expect(codec.verify(`${token}A`, 1_500)).toEqual(Result.fail("signature"))
    expect(codec.verify(token.slice(0, -1), 1_500)).toEqual(Result.fail("signature"))
  })

  it("reject a token signed with another secret", () => {
    const other = makeJwtCodec({
      ...settings,
      secret: Redacted.make("another-secret-of-at-least-thirty-two-chars")
    })
    expect(codec.verify(other.issue(claims), 1_500)).toEqual(Result.fail("malformed"))
    // The same kid (forged header) and the wrong key: the signature decides.
    const [, otherPayload, otherSignature] = other.issue(claims).split(".")
    expect(codec.verify(`${header}.${otherPayload}.${otherSignature}`, 1_500)).toEqual(
      Result.fail("signature")
    )
  })

  it("reject tampered claims", () => {
    const forged = Buffer.from(
      JSON.stringify({ ...claims, sub: "admin", iss: "focusforge", aud: "focusforge" })
    )
    expect(codec.verify(`${header}.${forged.toString("base64url")}.${signature}`, 1_500)).toEqual(
      Result.fail("signature")
    )
  })

  it("accept only the exact signature encoding: no padding, no +/ alphabet, no unused bits set", () => {
    const standard = Buffer.from(signature, "base64url").toString("base64")
    expect(standard).toMatch(/=$/)
    const lastIndex = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".indexOf(
      signature.at(-1) ?? ""
    )
    const sibling = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[lastIndex ^ 1]
    for (const variant of [`${signature}=`, standard, `${signature.slice(0, -1)}${sibling}`]) {
      expect(codec.verify(`${header}.${payload}.${variant}`, 1_500), variant).toEqual(
        Result.fail("signature")
      )
    }
    // A token whose signature has + or / in base64 must differ from its base64url spelling: find one.
    const withPlusOrSlash = Array.from({ length: 200 }, (_, i) =>
      codec.issue({ ...claims, jti: `t-${i}` })
    ).find((token) => /[-_]/.test(token.split(".")[2] ?? ""))
    expect(withPlusOrSlash).toBeDefined()
    const [h, p, s] = (withPlusOrSlash ?? "").split(".") as [string, string, string]
    const plusSlash = s.replaceAll("-", "+").replaceAll("_", "/")
    expect(codec.verify(`${h}.${p}.${s}`, 1_500)._tag).toBe("Success")
    expect(codec.verify(`${h}.${p}.${plusSlash}`, 1_500)).toEqual(Result.fail("signature"))
  })

  it("check iss and aud", () => {
    for (const other of [
      { ...settings, issuer: "someone-else" },
      { ...settings, audience: "another-app" }
    ]) {
      expect(codec.verify(makeJwtCodec(other).issue(claims), 1_500)).toEqual(Result.fail("malformed"))
    }
  })

  it("reject alg=none, a missing kid (tokens of the previous build) and garbage", () => {
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT", kid: keyId(secret) })).toString(
      "base64url"
    )
    expect(codec.verify(`${none}.${payload}.`, 1_500)).toEqual(Result.fail("signature"))
    expect(codec.verify(`${none}.${payload}.${signature}`, 1_500)).toEqual(Result.fail("malformed"))
    const legacyHeader = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")
    expect(codec.verify(`${legacyHeader}.${payload}.${signature}`, 1_500)).toEqual(Result.fail("malformed"))
    expect(codec.verify("not-a-token", 1_500)).toEqual(Result.fail("malformed"))
    expect(codec.verify("a.b.c", 1_500)).toEqual(Result.fail("malformed"))
  })

  it("rotation: tokens of a previous secret still verify; new tokens carry the new kid; retired keys fail", () => {
    const next = Redacted.make("the-next-secret-of-at-least-thirty-two-chars")
    const rotated = makeJwtCodec({ ...settings, secret: next, previousSecrets: [secret] })
    expect(rotated.verify(codec.issue(claims), 1_500)).toEqual(Result.succeed(claims))
    expect(rotated.kid).toBe(keyId(next))
    expect(rotated.kid).not.toBe(codec.kid)
    expect(codec.verify(rotated.issue(claims), 1_500)).toEqual(Result.fail("malformed"))
    const retired = makeJwtCodec({ ...settings, secret: next })
    expect(retired.verify(codec.issue(claims), 1_500)).toEqual(Result.fail("malformed"))
  })
})
