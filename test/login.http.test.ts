import { Redis as IORedis } from "ioredis"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type Envelope, TEST_JWT_SECRET } from "./support/api.ts"
import type { Reply } from "./support/http.ts"
import { SHARED_REDIS_URL, startRedis, testPrefix } from "./support/redisServer.ts"
import { type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

/*
 * Login and registration throttling against the real server, each client on its own loopback source
 * address (the whole of 127.0.0.0/8 is local on Linux), so the server sees distinct peers exactly as it
 * would see distinct hosts.
 */

/** A JSON request sent from `localAddress` on a fresh connection. */
const send = (
  localAddress: string,
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {}
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const payload = JSON.stringify(body)
    const req = Http.request(
      `${base}${path}`,
      {
        method: "POST",
        localAddress,
        agent: false,
        headers: {
          "content-type": "application/json",
          "content-length": String(Buffer.byteLength(payload)),
          ...headers
        }
      },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) })
        })
        res.on("error", reject)
      }
    )
    req.on("error", reject)
    req.end(payload)
  })

const PASSWORD = "correct horse battery"

const login = (
  from: string,
  base: string,
  email: string,
  password: string,
  headers?: Record<string, string>
) => send(from, base, "/api/v1/auth/login", { email, password }, headers)

const register = (from: string, base: string, email = `user-${randomUUID()}@example.com`) =>
  send(from, base, "/api/v1/auth/register", { email, password: PASSWORD, display_name: "User" })

/** Registers a fresh account from its own address (so no test spends another's registration quota). */
let registrations = 0
const newAccount = async (base: string): Promise<string> => {
  const email = `victim-${randomUUID()}@example.com`
  registrations += 1
  const reply = await register(`127.0.1.${registrations}`, base, email)
  if (reply.status !== 201) throw new Error(`register: ${reply.status} ${reply.text}`)
  return email
}

/** Status and error tag of each reply, in order: what a client can observe. */
const observed = (replies: ReadonlyArray<Reply>) =>
  replies.map((reply) => `${reply.status} ${reply.status === 200 ? "ok" : (reply.json() as Envelope)._tag}`)

const failures = async (count: number, attempt: (i: number) => Promise<Reply>) => {
  const replies: Array<Reply> = []
  for (let i = 0; i < count; i++) replies.push(await attempt(i))
  return replies
}

/**
 * Every server here waits a minute (not the default second) after the free failures, so the answers
 * below do not depend on how fast a loaded machine runs the KDF; test/loginThrottle.test.ts shows the
 * default sequence under TestClock.
 */
const SLOW = { LOGIN_BASE_DELAY_MS: "60000" }

const FIVE_WRONG_THEN_WAIT = [
  ...Array.from({ length: 5 }, () => "401 InvalidCredentials"),
  "429 LoginThrottled",
  "429 LoginThrottled"
]

describe("login throttle over HTTP (one instance, in process)", () => {
  let server: ServerProcess
  let base: string
  beforeAll(async () => {
    server = await startServer({
      ...SLOW,
      JWT_SECRET: TEST_JWT_SECRET,
      TRUSTED_PROXIES: "127.0.0.10",
      REGISTER_MAX_PER_ADDRESS: "3"
    })
    base = server.url
  }, 120_000)
  afterAll(async () => {
    await server?.stop()
  })

  it("an attacker failing from 127.0.0.2 is answered 429 + Retry-After; the victim still logs in from 127.0.0.3", async () => {
    const victim = await newAccount(base)
    const attack = await failures(8, (i) => login("127.0.0.2", base, victim, `wrong-guess-${i}`))
    expect(observed(attack)).toEqual([...FIVE_WRONG_THEN_WAIT, "429 LoginThrottled"])
    const refused = attack[5] as Reply
    const retryAfter = Number(refused.headers["retry-after"])
    expect(retryAfter).toBeGreaterThan(50)
    expect(retryAfter).toBeLessThanOrEqual(60)
    expect(refused.json()).toEqual({
      _tag: "LoginThrottled",
      message: expect.stringContaining("try again"),
      details: { retry_after_seconds: retryAfter }
    })
    // The right password from the attacker's address waits too: a 429 tells nothing about the password.
    expect((await login("127.0.0.2", base, victim, PASSWORD)).status).toBe(429)

    const owner = await login("127.0.0.3", base, victim, PASSWORD)
    expect(owner.status).toBe(200)
    const token = (owner.json() as { access_token: string }).access_token
    const me = await fetch(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(me.status).toBe(200)
  }, 60_000)

  it("an unknown email answers exactly like a known one", async () => {
    const known = await newAccount(base)
    const unknown = `nobody-${randomUUID()}@example.com`
    const forKnown = await failures(7, (i) => login("127.0.0.4", base, known, `wrong-guess-${i}`))
    const forUnknown = await failures(7, (i) => login("127.0.0.5", base, unknown, `wrong-guess-${i}`))
    expect(observed(forKnown)).toEqual(FIVE_WRONG_THEN_WAIT)
    expect(observed(forUnknown)).toEqual(observed(forKnown))
    expect(forUnknown.map((reply) => reply.headers["retry-after"])).toEqual(
      forKnown.map((reply) => reply.headers["retry-after"])
    )
  }, 60_000)

  it("X-Forwarded-For from a peer that is not a trusted proxy is ignored", async () => {
    const victim = await newAccount(base)
    // A new forged client address on every try: all of them still count for 127.0.0.6.
    const forged = await failures(7, (i) =>
      login("127.0.0.6", base, victim, `wrong-guess-${i}`, { "x-forwarded-for": `203.0.113.${i + 1}` })
    )
    expect(observed(forged)).toEqual(FIVE_WRONG_THEN_WAIT)
  }, 60_000)

  it("behind a trusted proxy, the client is the right-most untrusted X-Forwarded-For address", async () => {
    const victim = await newAccount(base)
    const proxy = "127.0.0.10"
    const viaProxy = await failures(7, (i) =>
      login(proxy, base, victim, `wrong-guess-${i}`, { "x-forwarded-for": "198.51.100.7" })
    )
    expect(observed(viaProxy)).toEqual(FIVE_WRONG_THEN_WAIT)
    // The attacker prepends the victim's address; the proxy appends the one it saw, which is what counts.
    const spoofed = await login(proxy, base, victim, PASSWORD, {
      "x-forwarded-for": "198.51.100.8, 198.51.100.7"
    })
    expect(spoofed.status).toBe(429)
    // The victim, through the same proxy from another address, gets in.
    const owner = await login(proxy, base, victim, PASSWORD, { "x-forwarded-for": "198.51.100.8" })
    expect(owner.status).toBe(200)
  }, 60_000)

  it("registrations are limited per address (REGISTER_MAX_PER_ADDRESS), answered 429 + Retry-After", async () => {
    const replies = await failures(4, () => register("127.0.0.20", base))
    expect(replies.map((reply) => reply.status)).toEqual([201, 201, 201, 429])
    const refused = replies[3] as Reply
    expect((refused.json() as Envelope)._tag).toBe("RegistrationThrottled")
    const retryAfter = Number(refused.headers["retry-after"])
    expect(retryAfter).toBeGreaterThan(3500)
    expect((refused.json() as Envelope).details).toEqual({ retry_after_seconds: retryAfter })
    expect((await register("127.0.0.21", base)).status).toBe(201)
  }, 60_000)
})

describe("login throttle over HTTP (two instances sharing Redis)", () => {
  const prefix = `${testPrefix()}login:`
  const servers: Array<ServerProcess> = []
  beforeAll(async () => {
    const env = {
      ...SLOW,
      JWT_SECRET: TEST_JWT_SECRET,
      DATA_DIR: tempDataDir(),
      REDIS_URL: SHARED_REDIS_URL,
      LOGIN_THROTTLE_PREFIX: prefix
    }
    servers.push(await startServer({ ...env, INSTANCE_ID: "a" }))
    servers.push(await startServer({ ...env, INSTANCE_ID: "b" }))
  }, 180_000)
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()))
    const redis = new IORedis(SHARED_REDIS_URL)
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    await redis.quit()
  })

  it("failures on either instance count together", async () => {
    const [a, b] = servers.map((server) => server.url) as [string, string]
    const victim = await newAccount(a)
    const alternating = await failures(7, (i) =>
      login("127.0.0.2", i % 2 === 0 ? a : b, victim, `wrong-guess-${i}`)
    )
    // Alone, each instance would have seen at most 4 failures and answered 401 throughout.
    expect(observed(alternating)).toEqual(FIVE_WRONG_THEN_WAIT)
    expect((await login("127.0.0.3", b, victim, PASSWORD)).status).toBe(200)
    const redis = new IORedis(SHARED_REDIS_URL)
    try {
      expect((await redis.keys(`${prefix}*`)).length).toBeGreaterThan(0)
    } finally {
      await redis.quit()
    }
  }, 60_000)
})

describe("login throttle over HTTP while Redis is down", () => {
  it("logins are throttled in process and never fail with a 5xx", async () => {
    const redis = await startRedis()
    const server = await startServer({ ...SLOW, JWT_SECRET: TEST_JWT_SECRET, REDIS_URL: redis.url })
    try {
      const victim = await newAccount(server.url)
      await redis.kill()
      const attack = await failures(7, (i) => login("127.0.0.2", server.url, victim, `wrong-guess-${i}`))
      expect(observed(attack)).toEqual(FIVE_WRONG_THEN_WAIT)
      expect((await login("127.0.0.3", server.url, victim, PASSWORD)).status).toBe(200)
      expect((await register("127.0.0.30", server.url)).status).toBe(201)
    } finally {
      await server.stop()
      await redis.kill()
    }
  }, 120_000)
})

describe("TRUSTED_PROXIES at start-up", () => {
  it("a malformed value stops the server with one line naming the variable", async () => {
    await expect(startServer({ TRUSTED_PROXIES: "nginx" })).rejects.toThrow(
      /Invalid configuration: TRUSTED_PROXIES: Expected comma-separated IP addresses or CIDR networks but received "nginx"/
    )
  }, 120_000)
})
