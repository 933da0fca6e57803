import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Option, Redacted, Ref } from "effect"
import { IpNetwork, NetAddress } from "effect/net"
import type { Redis as IORedis } from "ioredis"
import { createHmac } from "node:crypto"
import { InvalidCredentials, LoginThrottled, RegistrationThrottled } from "../../domain/errors.ts"
import {
  AppConfig,
  describeConfigError,
  InvalidConfig,
  LoginThrottleConfig,
  type LoginThrottleSettings
} from "../config/AppConfig.ts"
import { Redis } from "../redis/Redis.ts"

/**
 * Login and registration throttling that nobody can turn against someone else.
 *
 * - Failed logins count per (email, client address). The first `freeFailures` are answered at once; each
 *   further attempt from that address for that email must wait `baseDelayMs · 2^(n − free)`, capped at
 *   `maxDelayMs`, after the previous one. A refused attempt is answered at once (429 + `Retry-After`):
 *   no sleep holds a socket. A successful login clears that pair.
 * - Per email across all addresses, `accountCeiling` failures within `accountWindowMs` switch the email
 *   to "only addresses that have not failed": an address with failures for it waits until the window
 *   ends, an address with none still gets its password checked. A distributed guesser is slowed to one
 *   guess per address per window, and the owner, from an address that has not failed, always gets in.
 * - The key is the email in the form that finds its account (the caller's choice: Accounts passes the
 *   email claim's key), whether or not an account has it: an unknown email is throttled exactly like a
 *   known one, so answers never tell which emails exist.
 * - Registrations count per client address (`registrationsPerAddress` per `registrationWindowMs`).
 *
 * An attempt is counted when it is admitted, before the password is checked, so concurrent guesses from
 * one address cannot all slip through on one count. The check's outcome then settles it: a wrong password
 * leaves it counted, a right one clears the pair, and one the server declined to check (a typed error
 * such as `Overloaded`) is given back; a defect or a client that hung up stays counted.
 *
 * State lives in Redis when the app has a connection (every instance counts together; keys under
 * `prefix` carry HMACs of the email and address, never either in clear) and in a bounded in-process table
 * otherwise. Any Redis failure, or a Redis slower than `REDIS_TIMEOUT`, falls back to the in-process table
 * for that call: logins are throttled per instance while Redis is down, never failed.
 *
 * Time is the Clock's (so TestClock drives both stores); Redis expiries only collect idle keys.
 */

// ---------------------------------------------------------------------------------------------
// Rules (pure; the Lua scripts below implement the same)

/** Failures of one (email, address) pair: how many, and when the latest attempt was admitted. */
export interface PairRecord {
  readonly failures: number
  readonly last: number
}

/** A fixed window's count: per email across addresses, or registrations per address. */
export interface WindowRecord {
  readonly count: number
  readonly start: number
}

export type Verdict =
  | { readonly admitted: true }
  | { readonly admitted: false; readonly retryAfterMs: number }

const ADMITTED: Verdict = { admitted: true }

/** How long after its latest attempt a pair with `failures` failures must wait before the next. */
export const pairWaitMs = (failures: number, settings: LoginThrottleSettings): number =>
  failures < settings.freeFailures
    ? 0
    : Math.min(settings.baseDelayMs * 2 ** (failures - settings.freeFailures), settings.maxDelayMs)

const livePair = (pair: PairRecord | undefined, now: number, settings: LoginThrottleSettings) =>
  pair === undefined || now - pair.last >= settings.forgetAfterMs ? { failures: 0, last: 0 } : pair

const liveWindow = (window: WindowRecord | undefined, now: number, windowMs: number) =>
  window === undefined || now - window.start >= windowMs ? { count: 0, start: now } : window

/** Admits (and counts) a login attempt, or says how long until this pair may try again. */
export const decideLogin = (
  stored: { readonly pair: PairRecord | undefined; readonly account: WindowRecord | undefined },
  now: number,
  settings: LoginThrottleSettings
): { readonly verdict: Verdict; readonly pair: PairRecord; readonly account: WindowRecord } => {
  const pair = livePair(stored.pair, now, settings)
  const account = liveWindow(stored.account, now, settings.accountWindowMs)
  const readyAt = pair.last + pairWaitMs(pair.failures, settings)
  if (now < readyAt) return { verdict: { admitted: false, retryAfterMs: readyAt - now }, pair, account }
  if (account.count >= settings.accountCeiling && pair.failures > 0) {
    const retryAfterMs = account.start + settings.accountWindowMs - now
    return { verdict: { admitted: false, retryAfterMs }, pair, account }
  }
  return {
    verdict: ADMITTED,
    pair: { failures: pair.failures + 1, last: now },
    account: { count: account.count + 1, start: account.start }
  }
}

/** Admits (and counts) a registration from one address, or says how long until the next one. */
export const decideRegistration = (
  stored: WindowRecord | undefined,
  now: number,
  settings: LoginThrottleSettings
): { readonly verdict: Verdict; readonly window: WindowRecord } => {
  const window = liveWindow(stored, now, settings.registrationWindowMs)
  if (window.count >= settings.registrationsPerAddress) {
    return {
      verdict: { admitted: false, retryAfterMs: window.start + settings.registrationWindowMs - now },
      window
    }
  }
  return { verdict: ADMITTED, window: { count: window.count + 1, start: window.start } }
}

/** How an admitted login attempt ended: `failed` stays counted, the others settle it. */
export type LoginOutcome = "succeeded" | "failed" | "unchecked"

// ---------------------------------------------------------------------------------------------
// Keys

/**
 * The address a throttle counts: an IPv4 address as is, an IPv6 address by its /64 (one subscriber's
 * usual allocation, where a guesser could otherwise take a fresh address per guess).
 */
export const addressBucket = (client: string): string => {
  const parsed = NetAddress.ipFromString(client)
  if (parsed._tag === "Failure") return client
  const address = NetAddress.toCanonical(parsed.success)
  if (NetAddress.isIpv4Address(address)) return NetAddress.formatIp(address)
  return IpNetwork.format(IpNetwork.fromAddressUnsafe(address, 64))
}

export interface ThrottleKeys {
  readonly pair: string
  readonly account: string
}

/** Key names: HMACs under a key derived from `secret`, so Redis never holds an email or an address. */
export const makeKeys = (secret: Redacted.Redacted<string>, prefix: string) => {
  const key = createHmac("sha256", Redacted.value(secret)).update("focusforge/login-throttle/v1").digest()
  const mac = (text: string) => createHmac("sha256", key).update(text).digest("base64url")
  return {
    login: (email: string, client: string): ThrottleKeys => ({
      pair: `${prefix}p:${mac(`${email}\n${addressBucket(client)}`)}`,
      account: `${prefix}a:${mac(email)}`
    }),
    registration: (client: string): string => `${prefix}r:${mac(addressBucket(client))}`
  }
}

// ---------------------------------------------------------------------------------------------
// Stores

interface ThrottleStore {
  readonly admitLogin: (keys: ThrottleKeys, now: number) => Effect.Effect<Verdict, Error>
  readonly settleLogin: (keys: ThrottleKeys, outcome: "succeeded" | "unchecked") => Effect.Effect<void, Error>
  readonly admitRegistration: (key: string, now: number) => Effect.Effect<Verdict, Error>
}

/**
 * A table bounded to `maxEntries`, least recently used dropped first, each entry with its own expiry.
 * Dropping an entry forgets failures early; to push a given pair out, a guesser must first fill the
 * table with other pairs, each of which costs it an admitted (password-checked) attempt.
 */
export class BoundedTable<V> {
  readonly #entries = new Map<string, { readonly value: V; readonly expiresAt: number }>()
  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.#entries.size
  }

  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    this.#entries.delete(key)
    if (now >= entry.expiresAt) return undefined
    this.#entries.set(key, entry)
    return entry.value
  }

  set(key: string, value: V, expiresAt: number): void {
    this.#entries.delete(key)
    this.#entries.set(key, { value, expiresAt })
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.maxEntries) break
      this.#entries.delete(oldest)
    }
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }
}

/** The in-process store: the same rules on bounded tables. Synchronous, so every call is atomic. */
export const makeLocalStore = (settings: LoginThrottleSettings) => {
  const pairs = new BoundedTable<PairRecord>(settings.maxEntries)
  const windows = new BoundedTable<WindowRecord>(settings.maxEntries)
  const store: ThrottleStore = {
    admitLogin: (keys, now) =>
      Effect.sync(() => {
        const decided = decideLogin(
          { pair: pairs.get(keys.pair, now), account: windows.get(keys.account, now) },
          now,
          settings
        )
        if (decided.verdict.admitted) {
          pairs.set(keys.pair, decided.pair, now + settings.forgetAfterMs)
          windows.set(keys.account, decided.account, decided.account.start + settings.accountWindowMs)
        }
        return decided.verdict
      }),
    settleLogin: (keys, outcome) =>
      Effect.sync(() => {
        // Read without an age check (at −∞): settling must find the entry its admission wrote.
        const pair = pairs.get(keys.pair, Number.NEGATIVE_INFINITY)
        if (outcome === "succeeded") pairs.delete(keys.pair)
        else if (pair !== undefined && pair.failures > 0) {
          pairs.set(keys.pair, { ...pair, failures: pair.failures - 1 }, pair.last + settings.forgetAfterMs)
        }
        const account = windows.get(keys.account, Number.NEGATIVE_INFINITY)
        if (account !== undefined && account.count > 0) {
          windows.set(
            keys.account,
            { ...account, count: account.count - 1 },
            account.start + settings.accountWindowMs
          )
        }
      }),
    admitRegistration: (key, now) =>
      Effect.sync(() => {
        const decided = decideRegistration(windows.get(key, now), now, settings)
        if (decided.verdict.admitted) {
          windows.set(key, decided.window, decided.window.start + settings.registrationWindowMs)
        }
        return decided.verdict
      })
  }
  return { store, size: () => pairs.size + windows.size }
}

/** `decideLogin` on two hashes (`f`ailures/`l`ast, `c`ount/`s`tart), atomically inside Redis. */
const ADMIT_LOGIN = `
local now = tonumber(ARGV[1])
local free = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local maxDelay = tonumber(ARGV[4])
local forget = tonumber(ARGV[5])
local ceiling = tonumber(ARGV[6])
local window = tonumber(ARGV[7])
local p = redis.call('HMGET', KEYS[1], 'f', 'l')
local failures = tonumber(p[1]) or 0
local last = tonumber(p[2]) or 0
if now - last >= forget then
  failures = 0
  last = 0
end
local a = redis.call('HMGET', KEYS[2], 'c', 's')
local count = tonumber(a[1]) or 0
local start = tonumber(a[2]) or now
if now - start >= window then
  count = 0
  start = now
end
if failures >= free then
  local readyAt = last + math.min(base * 2 ^ (failures - free), maxDelay)
  if now < readyAt then return {0, readyAt - now} end
end
if count >= ceiling and failures > 0 then return {0, start + window - now} end
redis.call('HSET', KEYS[1], 'f', failures + 1, 'l', now)
redis.call('PEXPIRE', KEYS[1], forget)
redis.call('HSET', KEYS[2], 'c', count + 1, 's', start)
redis.call('PEXPIRE', KEYS[2], math.max(1, start + window - now))
return {1, 0}
`

/** A success clears the pair; an unchecked attempt gives its count back. Either gives the email's back. */
const SETTLE_LOGIN = `
if ARGV[1] == 'succeeded' then
  redis.call('DEL', KEYS[1])
else
  local failures = tonumber(redis.call('HGET', KEYS[1], 'f'))
  if failures ~= nil and failures > 0 then redis.call('HSET', KEYS[1], 'f', failures - 1) end
end
local count = tonumber(redis.call('HGET', KEYS[2], 'c'))
if count ~= nil and count > 0 then redis.call('HSET', KEYS[2], 'c', count - 1) end
return 0
`

/** `decideRegistration` on one hash (`c`ount/`s`tart). */
const ADMIT_REGISTRATION = `
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local r = redis.call('HMGET', KEYS[1], 'c', 's')
local count = tonumber(r[1]) or 0
local start = tonumber(r[2]) or now
if now - start >= window then
  count = 0
  start = now
end
if count >= limit then return {0, start + window - now} end
redis.call('HSET', KEYS[1], 'c', count + 1, 's', start)
redis.call('PEXPIRE', KEYS[1], math.max(1, start + window - now))
return {1, 0}
`

/** A Redis that does not answer within this long counts as down for this call. */
export const REDIS_TIMEOUT = Duration.millis(250)

const toVerdict = (reply: unknown): Effect.Effect<Verdict, Error> =>
  Array.isArray(reply) && typeof reply[0] === "number" && typeof reply[1] === "number"
    ? Effect.succeed(reply[0] === 1 ? ADMITTED : { admitted: false, retryAfterMs: reply[1] })
    : Effect.fail(new Error(`unexpected reply ${JSON.stringify(reply)}`))

/** The shared store: one Lua script per operation, so concurrent instances never lose a count. */
export const makeRedisStore = (client: IORedis, settings: LoginThrottleSettings): ThrottleStore => {
  const run = (script: string, keys: ReadonlyArray<string>, args: ReadonlyArray<string | number>) =>
    Effect.suspend(() =>
      client.status === "ready"
        ? Effect.tryPromise({
            try: () => client.eval(script, keys.length, ...keys, ...args),
            catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
          }).pipe(
            Effect.timeoutOption(REDIS_TIMEOUT),
            Effect.flatMap((reply) =>
              Option.isSome(reply) ? Effect.succeed(reply.value) : Effect.fail(new Error("redis timed out"))
            )
          )
        : Effect.fail(new Error(`redis is ${client.status}`))
    )
  return {
    admitLogin: (keys, now) =>
      run(
        ADMIT_LOGIN,
        [keys.pair, keys.account],
        [
          now,
          settings.freeFailures,
          settings.baseDelayMs,
          settings.maxDelayMs,
          settings.forgetAfterMs,
          settings.accountCeiling,
          settings.accountWindowMs
        ]
      ).pipe(Effect.flatMap(toVerdict)),
    settleLogin: (keys, outcome) =>
      run(SETTLE_LOGIN, [keys.pair, keys.account], [outcome]).pipe(Effect.asVoid),
    admitRegistration: (key, now) =>
      run(
        ADMIT_REGISTRATION,
        [key],
        [now, settings.registrationsPerAddress, settings.registrationWindowMs]
      ).pipe(Effect.flatMap(toVerdict))
  }
}

// ---------------------------------------------------------------------------------------------
// Service

export interface LoginThrottleShape {
  /**
   * Runs `attempt` (the password check for `email` from `client`) if that pair may try now, else fails
   * with `LoginThrottled`. The attempt's success clears the pair; another typed error than
   * `InvalidCredentials` gives the attempt back; a wrong password, a defect or an interruption count.
   */
  readonly guardLogin: (
    email: string,
    client: string
  ) => <A, E, R>(attempt: Effect.Effect<A, E, R>) => Effect.Effect<A, E | LoginThrottled, R>
  /** Counts a registration from `client`, or fails with `RegistrationThrottled`. */
  readonly admitRegistration: (client: string) => Effect.Effect<void, RegistrationThrottled>
  /** Entries in the in-process table (for tests and diagnosis). */
  readonly localEntries: Effect.Effect<number>
}

const retryAfterSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))

const throttled = (ms: number) => {
  const seconds = retryAfterSeconds(ms)
  return new LoginThrottled({
    message: `Too many failed logins: try again in ${seconds} s`,
    details: { retry_after_seconds: seconds }
  })
}

/**
 * Only a typed refusal other than a wrong password (e.g. `Overloaded`: the server declined to check)
 * gives the attempt back. A defect or an interruption (the client hung up) stays counted: the KDF may
 * have run, and hanging up must not buy free guesses.
 */
const outcomeOf = <A, E>(exit: Exit.Exit<A, E>): LoginOutcome => {
  if (Exit.isSuccess(exit)) return "succeeded"
  const error = Cause.findErrorOption(exit.cause)
  return Option.isNone(error) || error.value instanceof InvalidCredentials ? "failed" : "unchecked"
}

export interface LoginThrottleOptions {
  readonly settings: LoginThrottleSettings
  /** Keys the HMAC of key names; every instance that shares the Redis must use the same. */
  readonly secret: Redacted.Redacted<string>
  /** The shared command connection; none keeps everything in process. */
  readonly redis: Option.Option<IORedis>
}

export const makeLoginThrottle = (options: LoginThrottleOptions): Effect.Effect<LoginThrottleShape> =>
  Effect.gen(function* () {
    const { settings } = options
    const keys = makeKeys(options.secret, settings.prefix)
    const local = makeLocalStore(settings)
    const shared = Option.map(options.redis, (client) => makeRedisStore(client, settings))
    const degraded = yield* Ref.make(false)

    /** Redis when there is one and it answers; the in-process store otherwise (logged on each change). */
    const withStore = <A>(use: (store: ThrottleStore) => Effect.Effect<A, Error>): Effect.Effect<A> =>
      Option.match(shared, {
        onNone: () => Effect.orDie(use(local.store)),
        onSome: (redis) =>
          use(redis).pipe(
            Effect.tap(() =>
              Ref.getAndSet(degraded, false).pipe(
                Effect.flatMap((was) => (was ? Effect.logInfo("login throttle: back on Redis") : Effect.void))
              )
            ),
            Effect.catch((error) =>
              Ref.getAndSet(degraded, true).pipe(
                Effect.flatMap((was) =>
                  was
                    ? Effect.void
                    : Effect.logWarning("login throttle: Redis unavailable; counting in process").pipe(
                        Effect.annotateLogs("error", error.message)
                      )
                ),
                Effect.andThen(Effect.orDie(use(local.store)))
              )
            )
          )
      })

    const guardLogin =
      (email: string, client: string) =>
      <A, E, R>(attempt: Effect.Effect<A, E, R>): Effect.Effect<A, E | LoginThrottled, R> => {
        const pairKeys = keys.login(email, client)
        return Effect.uninterruptibleMask((restore) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const verdict = yield* withStore((store) => store.admitLogin(pairKeys, now))
            if (!verdict.admitted) return yield* throttled(verdict.retryAfterMs)
            return yield* restore(attempt).pipe(
              Effect.onExit((exit) => {
                const outcome = outcomeOf(exit)
                return outcome === "failed"
                  ? Effect.void
                  : withStore((store) => store.settleLogin(pairKeys, outcome))
              })
            )
          })
        )
      }

    const admitRegistration = Effect.fn("LoginThrottle.admitRegistration")(function* (client: string) {
      const now = yield* Clock.currentTimeMillis
      const verdict = yield* withStore((store) => store.admitRegistration(keys.registration(client), now))
      if (verdict.admitted) return
      const seconds = retryAfterSeconds(verdict.retryAfterMs)
      return yield* new RegistrationThrottled({
        message: `Too many registrations from this address: try again in ${seconds} s`,
        details: { retry_after_seconds: seconds }
      })
    })

    return {
      guardLogin,
      admitRegistration,
      localEntries: Effect.sync(local.size)
    } satisfies LoginThrottleShape
  })

export class LoginThrottle extends Context.Service<LoginThrottle, LoginThrottleShape>()(
  "focusforge/layers/auth/LoginThrottle"
) {
  /**
   * Settings from the environment (`LOGIN_*`, `REGISTER_*`), key names keyed by the JWT secret (which
   * every instance shares), and the app's Redis connection when the layer graph has one with a URL.
   */
  static readonly layer = Layer.effect(
    this,
    Effect.gen(function* () {
      const settings = yield* LoginThrottleConfig.pipe(
        Effect.mapError(
          (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
        )
      )
      const { jwtSecret } = yield* AppConfig
      const redis = yield* Effect.serviceOption(Redis)
      return yield* makeLoginThrottle({
        settings,
        secret: jwtSecret,
        redis: Option.flatMap(redis, (service) => Option.map(service.connection, (c) => c.client))
      })
    })
  )

  /** Explicit settings and store, for tests. */
  static readonly layerWith = (options: LoginThrottleOptions) =>
    Layer.effect(this, makeLoginThrottle(options))
}
