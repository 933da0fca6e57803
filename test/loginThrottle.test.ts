import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Option, Redacted, Result } from "effect"
import { TestClock } from "effect/testing"
import { Redis as IORedis } from "ioredis"
import { randomUUID } from "node:crypto"
import { InvalidCredentials } from "../src/domain/errors.ts"
import { defaultLoginThrottleSettings, type LoginThrottleSettings } from "../src/layers/config/AppConfig.ts"
import {
  addressBucket,
  makeLoginThrottle,
  type LoginThrottleShape
} from "../src/layers/auth/LoginThrottle.ts"
import { SHARED_REDIS_URL, startRedis, testPrefix } from "./support/redisServer.ts"

/*
 * The throttle's rules under TestClock, on both stores: the in-process table and Redis (the shared test
 * Redis, under a random prefix per test, deleted afterwards). Then what only Redis does: two instances
 * counting together, key names without emails or addresses, an outage degrading to the in-process table.
 */

const secret = Redacted.make("login-throttle-test-secret")

/** A Redis client for the test, closed with its scope; the prefix's keys are deleted first. */
const redisClient = (url: string, prefix: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new IORedis(url, {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1
      })
      client.on("error", () => {})
      await client.connect()
      return client
    }),
    (client) =>
      Effect.promise(async () => {
        // A killed test Redis has nothing left to clean up.
        const keys = await client.keys(`${prefix}*`).catch(() => [])
        if (keys.length > 0) await client.del(...keys).catch(() => 0)
        await client.quit().catch(() => client.disconnect())
      })
  )

type Backend = "memory" | "redis"

const makeThrottle = (backend: Backend, overrides: Partial<LoginThrottleSettings> = {}) =>
  Effect.gen(function* () {
    const prefix = `${testPrefix()}login:`
    const settings = { ...defaultLoginThrottleSettings, prefix, ...overrides }
    const redis =
      backend === "redis" ? Option.some(yield* redisClient(SHARED_REDIS_URL, prefix)) : Option.none()
    return yield* makeLoginThrottle({ settings, secret, redis })
  })

const wrongPassword = Effect.fail(new InvalidCredentials({ message: "Wrong email or password" }))
const rightPassword = Effect.succeed("session")

/** One attempt's answer: "ok", "wrong", or the seconds a throttled attempt was told to wait. */
const attempt = (
  throttle: LoginThrottleShape,
  email: string,
  client: string,
  check: Effect.Effect<string, InvalidCredentials>
) =>
  throttle
    .guardLogin(
      email,
      client
    )(check)
    .pipe(
      Effect.map(() => "ok" as const),
      Effect.catchTags({
        InvalidCredentials: () => Effect.succeed("wrong" as const),
        LoginThrottled: (error) => Effect.succeed(error.details.retry_after_seconds)
      })
    )

const email = () => `victim-${randomUUID()}@example.com`

for (const backend of ["memory", "redis"] as const) {
  describe(`login throttle (${backend})`, () => {
    it.effect("5 failures are free, then each waits twice as long as the last, up to 15 minutes", () =>
      Effect.gen(function* () {
        const throttle = yield* makeThrottle(backend)
        const victim = email()
        const answers = []
        for (let i = 0; i < 5; i++) answers.push(yield* attempt(throttle, victim, "127.0.0.2", wrongPassword))
        expect(answers).toEqual(["wrong", "wrong", "wrong", "wrong", "wrong"])
        const waits: Array<number | string> = []
        for (let i = 0; i < 12; i++) {
          const refused = yield* attempt(throttle, victim, "127.0.0.2", wrongPassword)
          waits.push(refused)
          if (typeof refused !== "number") break
          // Still refused a second early: the wait is counted from the previous attempt.
          yield* TestClock.adjust(`${refused - 1} seconds`)
          expect(yield* attempt(throttle, victim, "127.0.0.2", rightPassword)).toBe(1)
          yield* TestClock.adjust("1 second")
          expect(yield* attempt(throttle, victim, "127.0.0.2", wrongPassword)).toBe("wrong")
        }
        expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900])
      })
    )

    it.effect(
      "another address is never held back by this one's failures, and a success clears the pair",
      () =>
        Effect.gen(function* () {
          const throttle = yield* makeThrottle(backend)
          const victim = email()
          for (let i = 0; i < 8; i++) yield* attempt(throttle, victim, "127.0.0.2", wrongPassword)
          expect(typeof (yield* attempt(throttle, victim, "127.0.0.2", rightPassword))).toBe("number")
          // The owner, elsewhere, gets in; the attacker is still waiting.
          expect(yield* attempt(throttle, victim, "127.0.0.3", rightPassword)).toBe("ok")
          expect(typeof (yield* attempt(throttle, victim, "127.0.0.2", wrongPassword))).toBe("number")
          // Another email from the attacker's address is a pair of its own.
          expect(yield* attempt(throttle, email(), "127.0.0.2", wrongPassword)).toBe("wrong")

          // A success clears the pair: five free failures again.
          const typo = email()
          for (let i = 0; i < 5; i++) yield* attempt(throttle, typo, "127.0.0.4", wrongPassword)
          yield* TestClock.adjust("1 second")
          expect(yield* attempt(throttle, typo, "127.0.0.4", rightPassword)).toBe("ok")
          const after = []
          for (let i = 0; i < 5; i++) after.push(yield* attempt(throttle, typo, "127.0.0.4", wrongPassword))
          expect(after).toEqual(["wrong", "wrong", "wrong", "wrong", "wrong"])
        })
    )

    it.effect(
      "over the per-email ceiling, addresses that failed wait for the window; one that has not still gets in",
      () =>
        Effect.gen(function* () {
          const throttle = yield* makeThrottle(backend, { accountCeiling: 10 })
          const victim = email()
          for (const client of ["10.0.0.1", "10.0.0.2"]) {
            for (let i = 0; i < 5; i++)
              expect(yield* attempt(throttle, victim, client, wrongPassword)).toBe("wrong")
          }
          yield* TestClock.adjust("1 second")
          // 10.0.0.1's own wait is over, but the email is over its ceiling: the rest of the 15-minute window.
          expect(yield* attempt(throttle, victim, "10.0.0.1", rightPassword)).toBe(15 * 60 - 1)
          // A fresh address has its password checked: the right one gets in, a wrong one is counted...
          expect(yield* attempt(throttle, victim, "10.0.0.3", rightPassword)).toBe("ok")
          expect(yield* attempt(throttle, victim, "10.0.0.4", wrongPassword)).toBe("wrong")
          // ...and that address then waits like the others.
          expect(yield* attempt(throttle, victim, "10.0.0.4", rightPassword)).toBe(15 * 60 - 1)
          // Another email is not affected.
          expect(yield* attempt(throttle, email(), "10.0.0.1", rightPassword)).toBe("ok")
          yield* TestClock.adjust("15 minutes")
          expect(yield* attempt(throttle, victim, "10.0.0.1", rightPassword)).toBe("ok")
        })
    )

    it.effect("attempts the server declined to check are given back; a defect or a hang-up is not", () =>
      Effect.gen(function* () {
        const throttle = yield* makeThrottle(backend)
        const victim = email()
        const overloaded = Effect.fail({ _tag: "Overloaded" as const })
        for (let i = 0; i < 10; i++) {
          const result = yield* Effect.result(throttle.guardLogin(victim, "127.0.0.2")(overloaded))
          expect(Result.isFailure(result) && result.failure._tag).toBe("Overloaded")
        }
        yield* Effect.exit(throttle.guardLogin(victim, "127.0.0.2")(Effect.die("boom")))
        // Hung up while its password was being checked: counted, or hanging up would buy free guesses.
        const hungUp = yield* Effect.forkChild(throttle.guardLogin(victim, "127.0.0.2")(Effect.never))
        yield* Effect.yieldNow
        yield* Fiber.interrupt(hungUp)
        const answers = []
        for (let i = 0; i < 4; i++) answers.push(yield* attempt(throttle, victim, "127.0.0.2", wrongPassword))
        expect(answers).toEqual(["wrong", "wrong", "wrong", 1])
      })
    )

    it.effect(
      "concurrent guesses from one address are counted as they are admitted: only 5 get checked",
      () =>
        Effect.gen(function* () {
          const throttle = yield* makeThrottle(backend)
          const victim = email()
          const release = yield* Deferred.make<void>()
          const slowWrong = Deferred.await(release).pipe(Effect.andThen(wrongPassword))
          const racing = yield* Effect.forkChild(
            Effect.all(
              Array.from({ length: 20 }, () => attempt(throttle, victim, "127.0.0.2", slowWrong)),
              { concurrency: "unbounded" }
            )
          )
          // Everyone admitted is now waiting on the latch; the refused have answered.
          yield* Effect.yieldNow
          yield* Deferred.succeed(release, undefined)
          const answers = yield* Fiber.join(racing)
          expect(answers.filter((answer) => answer === "wrong")).toHaveLength(5)
          expect(answers.filter((answer) => typeof answer === "number")).toHaveLength(15)
        })
    )

    it.effect("registrations are limited per address per window", () =>
      Effect.gen(function* () {
        const throttle = yield* makeThrottle(backend, { registrationsPerAddress: 3 })
        const register = (client: string) =>
          throttle.admitRegistration(client).pipe(
            Effect.as("ok" as const),
            Effect.catchTag("RegistrationThrottled", (error) =>
              Effect.succeed(error.details.retry_after_seconds)
            )
          )
        const answers = []
        for (let i = 0; i < 4; i++) answers.push(yield* register("127.0.0.5"))
        expect(answers).toEqual(["ok", "ok", "ok", 3600])
        expect(yield* register("127.0.0.6")).toBe("ok")
        yield* TestClock.adjust("1 hour")
        expect(yield* register("127.0.0.5")).toBe("ok")
      })
    )
  })
}

describe("login throttle keys and bounds", () => {
  it("counts an IPv6 client by its /64 and an IPv4-mapped one as IPv4", () => {
    expect(addressBucket("2001:db8:1:2:aaaa::1")).toBe(addressBucket("2001:db8:1:2:bbbb::2"))
    expect(addressBucket("2001:db8:1:2::1")).not.toBe(addressBucket("2001:db8:1:3::1"))
    expect(addressBucket("::ffff:127.0.0.2")).toBe("127.0.0.2")
    expect(addressBucket("unknown")).toBe("unknown")
  })

  it.effect("the in-process table stays within LOGIN_THROTTLE_MAX_ENTRIES", () =>
    Effect.gen(function* () {
      const throttle = yield* makeLoginThrottle({
        settings: { ...defaultLoginThrottleSettings, maxEntries: 50 },
        secret,
        redis: Option.none()
      })
      for (let i = 0; i < 500; i++)
        yield* attempt(throttle, email(), `10.1.${i >> 8}.${i & 255}`, wrongPassword)
      // Pairs and per-email windows: each table holds at most 50.
      expect(yield* throttle.localEntries).toBeLessThanOrEqual(100)
    })
  )

  it.effect("two instances sharing Redis count together; keys hold no email or address", () =>
    Effect.gen(function* () {
      const prefix = `${testPrefix()}login:`
      const settings = { ...defaultLoginThrottleSettings, prefix }
      const a = yield* makeLoginThrottle({
        settings,
        secret,
        redis: Option.some(yield* redisClient(SHARED_REDIS_URL, prefix))
      })
      const b = yield* makeLoginThrottle({
        settings,
        secret,
        redis: Option.some(yield* redisClient(SHARED_REDIS_URL, prefix))
      })
      const victim = email()
      const answers = []
      for (const throttle of [a, b, a, b, a])
        answers.push(yield* attempt(throttle, victim, "127.0.0.2", wrongPassword))
      expect(answers).toEqual(["wrong", "wrong", "wrong", "wrong", "wrong"])
      expect(yield* attempt(b, victim, "127.0.0.2", rightPassword)).toBe(1)
      expect(yield* attempt(a, victim, "127.0.0.3", rightPassword)).toBe("ok")
      yield* a.admitRegistration("127.0.0.2")
      // Neither instance counted anything in process.
      expect(yield* a.localEntries).toBe(0)
      expect(yield* b.localEntries).toBe(0)

      const inspect = yield* redisClient(SHARED_REDIS_URL, prefix)
      const keys = yield* Effect.promise(() => inspect.keys(`${prefix}*`))
      expect(keys.length).toBeGreaterThanOrEqual(3)
      for (const key of keys) {
        expect(key).toMatch(new RegExp(`^${prefix.replaceAll(":", "\\:")}[par]:[A-Za-z0-9_-]{43}$`))
        expect(key).not.toContain("victim")
        expect(key).not.toContain("127.0.0")
      }
    })
  )

  it.live("a Redis outage degrades to counting in process, never to a failed login", () =>
    Effect.gen(function* () {
      const redis = yield* Effect.acquireRelease(
        Effect.promise(() => startRedis()),
        (server) => Effect.promise(() => server.kill())
      )
      const prefix = `${testPrefix()}login:`
      const client = yield* redisClient(redis.url, prefix)
      const throttle = yield* makeLoginThrottle({
        settings: { ...defaultLoginThrottleSettings, prefix },
        secret,
        redis: Option.some(client)
      })
      const victim = email()
      expect(yield* attempt(throttle, victim, "127.0.0.2", wrongPassword)).toBe("wrong")
      expect(yield* throttle.localEntries).toBe(0)
      yield* Effect.promise(() => redis.kill())
      const answers = []
      for (let i = 0; i < 6; i++) answers.push(yield* attempt(throttle, victim, "127.0.0.2", wrongPassword))
      // In process from here on: five free failures of its own, then the wait.
      expect(answers).toEqual(["wrong", "wrong", "wrong", "wrong", "wrong", 1])
      expect(yield* attempt(throttle, victim, "127.0.0.3", rightPassword)).toBe("ok")
      expect(yield* throttle.localEntries).toBeGreaterThan(0)
      yield* throttle.admitRegistration("127.0.0.2")
    })
  )
})
