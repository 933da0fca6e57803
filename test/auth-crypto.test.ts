import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted, Result } from "effect"
import { issue, verify } from "../src/layers/auth/Jwt.ts"
import { hashPassword, verifyPassword } from "../src/layers/auth/Passwords.ts"

const secret = Redacted.make("a-test-secret-of-at-least-thirty-two-chars")
const claims = { sub: "user-1", jti: "token-1", iat: 1_000, exp: 2_000 }

describe("passwords", () => {
  it.effect("verify the right password and reject a wrong one", () =>
    Effect.gen(function* () {
      const stored = yield* hashPassword(Redacted.make("correct horse"))
      expect(stored).toMatch(/^scrypt\$32768\$8\$1\$/)
      expect(yield* verifyPassword(Redacted.make("correct horse"), stored)).toBe(true)
      expect(yield* verifyPassword(Redacted.make("correct horsf"), stored)).toBe(false)
      expect(yield* verifyPassword(Redacted.make("correct horse"), "garbage")).toBe(false)
    })
  )

  it.effect("salt each hash", () =>
    Effect.gen(function* () {
      const a = yield* hashPassword(Redacted.make("same"))
      const b = yield* hashPassword(Redacted.make("same"))
      expect(a).not.toBe(b)
    })
  )
})

describe("tokens", () => {
  it("round-trip before expiry", () => {
    expect(verify(secret, issue(secret, claims), 1_500)).toEqual(Result.succeed(claims))
  })

  it("expire", () => {
    expect(verify(secret, issue(secret, claims), 2_000)).toEqual(Result.fail("expired"))
  })

  it("reject a token signed with another secret", () => {
    const other = Redacted.make("another-secret-of-at-least-thirty-two-chars")
    expect(verify(secret, issue(other, claims), 1_500)).toEqual(Result.fail("signature"))
  })

  it("reject tampered claims", () => {
    const [header, , signature] = issue(secret, claims).split(".")
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: "admin" })).toString("base64url")
    expect(verify(secret, `${header}.${forged}.${signature}`, 1_500)).toEqual(Result.fail("signature"))
  })

  it("reject alg=none and garbage", () => {
    const none = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")
    const payload = Buffer.from(JSON.stringify(claims)).toString("base64url")
    expect(verify(secret, `${none}.${payload}.`, 1_500)).toEqual(Result.fail("malformed"))
    expect(verify(secret, "not-a-token", 1_500)).toEqual(Result.fail("malformed"))
  })
})
