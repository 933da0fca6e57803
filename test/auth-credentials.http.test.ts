import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, countEvents, type Envelope, registerUser, TEST_JWT_SECRET } from "./support/api.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

/**
 * Credentials through the real server: what a client sees for weak passwords, hostile emails, bad
 * input around secrets, and a login storm larger than the password hasher's bound (here 1 running and
 * 2 waiting, so a modest burst is enough to overflow it).
 */
describe("credentials over HTTP", () => {
  let server: ServerProcess
  let base: string

  beforeAll(async () => {
    server = await startServer({
      JWT_SECRET: TEST_JWT_SECRET,
      PASSWORD_HASH_CONCURRENCY: "1",
      PASSWORD_HASH_QUEUE: "2"
    })
    base = server.url
  })

  afterAll(async () => {
    await server?.stop()
  })

  const register = (body: Record<string, unknown>) => call(base, "POST", "/api/v1/auth/register", { body })

  it("refuses blank, control-only, short and common passwords with a 4xx envelope, never echoing them", async () => {
    const before = countEvents(server.dataDir)
    for (const password of ["        ", "\0".repeat(8), "12345678", "password", "iloveyou12", "wrong"]) {
      const reply = await register({
        email: `weak-${randomUUID()}@example.com`,
        password,
        display_name: "Weak"
      })
      expect([400, 422], JSON.stringify(password)).toContain(reply.status)
      const envelope = reply.json() as Envelope
      expect(["ValidationError", "WeakPassword"]).toContain(envelope._tag)
      expect(envelope.message).toMatch(/password/i)
      if (password.trim() !== "" && password !== "password") expect(reply.text).not.toContain(password)
      if (password.trim() === "") expect(reply.text).not.toContain(JSON.stringify(password))
    }
    const common = await register({
      email: `weak-${randomUUID()}@example.com`,
      password: "12345678",
      display_name: "W"
    })
    expect(common.status).toBe(422)
    expect((common.json() as Envelope)._tag).toBe("WeakPassword")
    expect(countEvents(server.dataDir)).toBe(before)
  })

  it("never echoes a password or token in a validation error", async () => {
    const secretish = "hunter2-do-not-echo"
    for (const body of [
      { email: "nobody@example.com", password: { nested: secretish } },
      { email: "nobody@example.com", password: [secretish] },
      { email: 12, password: secretish, token: { value: secretish } },
      [{ email: "nobody@example.com", password: secretish }]
    ]) {
      const reply = await call(base, "POST", "/api/v1/auth/login", { body })
      expect(reply.status, JSON.stringify(body)).toBe(400)
      expect((reply.json() as Envelope)._tag).toBe("ValidationError")
      expect(reply.text).not.toContain(secretish)
    }
  })

  it("emails: NFKC and case folded, NUL refused, a Cyrillic look-alike cannot register beside the original", async () => {
    const id = randomUUID().slice(0, 8)
    const nul = await register({
      email: `ann-${id}@example.com\0`,
      password: "correct horse battery",
      display_name: "N"
    })
    expect(nul.status).toBe(400)
    const fullWidth = await register({
      email: `ＡＮＮ-${id}＠ｅｘａｍｐｌｅ.ｃｏｍ`,
      password: "correct horse battery",
      display_name: "Ann"
    })
    expect(fullWidth.status).toBe(201)
    expect((fullWidth.json() as { user: { email: string } }).user.email).toBe(`ann-${id}@example.com`)
    const login = await call(base, "POST", "/api/v1/auth/login", {
      body: { email: `ann-${id}@example.com`, password: "correct horse battery" }
    })
    expect(login.status).toBe(200)
    const shadow = await register({
      email: `\u0430nn-${id}@example.com`,
      password: "correct horse battery",
      display_name: "Evil"
    })
    expect(shadow.status).toBe(409)
    expect((shadow.json() as Envelope)._tag).toBe("EmailTaken")
  })

  it("a login storm beyond the hashing bound is 503 Overloaded with Retry-After; other requests still answer", async () => {
    const user = await registerUser(base, "Storm")
    const storm = Array.from({ length: 24 }, () =>
      call(base, "POST", "/api/v1/auth/login", { body: { email: user.email, password: user.password } })
    )
    const me = await call(base, "GET", "/api/v1/auth/me", { token: user.token })
    expect(me.status).toBe(200)
    const replies = await Promise.all(storm)
    const refused = replies.filter((reply) => reply.status === 503)
    expect(refused.length).toBeGreaterThan(0)
    for (const reply of refused) {
      expect((reply.json() as Envelope)._tag).toBe("Overloaded")
      expect(Number(reply.headers["retry-after"])).toBeGreaterThan(0)
    }
    expect(replies.filter((reply) => reply.status === 200).length).toBeGreaterThanOrEqual(1)
    expect(replies.every((reply) => reply.status === 200 || reply.status === 503)).toBe(true)
  })
})
