import {
  Cause,
  Clock,
  Config,
  Context,
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberSet,
  Layer,
  Option,
  Random,
  Result,
  Schema,
  type Scope
} from "effect"
import type { Redis as IORedis } from "ioredis"
import { randomUUID } from "node:crypto"
import { describeConfigError, InvalidConfig, integerSetting } from "../config/AppConfig.ts"
import { Health, type HealthCheck } from "../observability/Health.ts"
import { logReleased } from "../observability/Logging.ts"
import { Redis, type RedisConnection } from "../redis/Redis.ts"
import { type BreakerState, makeBreaker } from "./Breaker.ts"
import { jsonCodec } from "./Codec.ts"
import { Lru, type LruEntry, entryBytes } from "./Lru.ts"

export interface CacheOptions {
  /** Prepended to every key in both tiers; tests use a random one per run. */
  readonly prefix: string
  readonly l1MaxEntries: number
  readonly l1MaxBytes: number
  /** Upper bound on an L1 entry's life, so a missed invalidation cannot keep it stale for long. */
  readonly l1Ttl: Duration.Input
  /** Soft timeout on every L2 call: past it the call counts as failed and the cache goes on without it. */
  readonly l2Timeout: Duration.Input
  readonly breakerFailures: number
  readonly breakerReset: Duration.Input
  /** TTLs are shortened by up to this fraction at random, so keys filled together do not expire together. */
  readonly ttlJitter: number
  readonly instanceId?: string
}

export const defaultCacheOptions: CacheOptions = {
  prefix: "ff:",
  l1MaxEntries: 10_000,
  l1MaxBytes: 64 * 1024 * 1024,
  l1Ttl: Duration.seconds(30),
  l2Timeout: Duration.millis(100),
  breakerFailures: 5,
  breakerReset: Duration.seconds(5),
  ttlJitter: 0.1
}

export interface CacheStats {
  /** Every `get` and `getOrLoad` call; always `hits + misses`. */
  readonly gets: number
  /** Calls answered from L1 or L2 (directly or by joining another caller's L2 lookup). */
  readonly hits: number
  /** Calls that found nothing (`get`) or were answered by a loader (`getOrLoad`). */
  readonly misses: number
  /** `getOrLoad` calls that joined a lookup already in flight instead of starting their own. */
  readonly coalesced: number
  readonly l1: {
    readonly hits: number
    readonly misses: number
    readonly sets: number
    readonly evictions: number
    readonly expirations: number
    readonly invalidations: number
    readonly entries: number
    readonly bytes: number
  }
  readonly l2: {
    readonly enabled: boolean
    readonly hits: number
    readonly misses: number
    readonly sets: number
    readonly deletes: number
    /** Failed or timed-out calls (timeouts are also counted on their own). */
    readonly errors: number
    readonly timeouts: number
    /** Calls not attempted because the breaker was open. */
    readonly rejected: number
  }
  readonly loads: {
    readonly count: number
    readonly failures: number
    readonly totalMs: number
    readonly maxMs: number
  }
  readonly breaker: { readonly state: BreakerState["_tag"]; readonly trips: number }
}

export interface CacheService {
  readonly instanceId: string
  readonly prefix: string
  readonly get: <A, I>(key: string, schema: Schema.Codec<A, I>) => Effect.Effect<Option.Option<A>>
  readonly set: <A, I>(
    key: string,
    value: A,
    schema: Schema.Codec<A, I>,
    ttl: Duration.Input
  ) => Effect.Effect<void>
  readonly delete: (key: string) => Effect.Effect<void>
  /** Deletes every key that starts with `prefix` (after the cache's own prefix), by SCAN. */
  readonly deleteByPrefix: (prefix: string) => Effect.Effect<void>
  /**
   * The cached value, or the loader's. Concurrent misses on one key in this process share one lookup
   * and one loader run; a failed load is not cached, and interrupting one caller does not cancel the
   * load for the others.
   */
  readonly getOrLoad: <A, I, E, R>(
    key: string,
    schema: Schema.Codec<A, I>,
    ttl: Duration.Input,
    loader: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E, R>
  readonly stats: Effect.Effect<CacheStats>
  readonly health: HealthCheck
}

export class Cache extends Context.Service<Cache, CacheService>()("Cache") {}

const InvalidationMessage = Schema.fromJsonString(
  Schema.Struct({
    origin: Schema.String,
    keys: Schema.optional(Schema.Array(Schema.String)),
    prefix: Schema.optional(Schema.String)
  })
)
type InvalidationMessage = typeof InvalidationMessage.Type
const encodeInvalidation = Schema.encodeSync(InvalidationMessage)
const decodeInvalidation = Schema.decodeUnknownResult(InvalidationMessage)

type Source = "l1" | "l2" | "loader" | "none"
interface Found<A> {
  readonly value: A
  readonly source: Source
}

const SCAN_BATCH = 500

/**
 * Node runs expired timers before it reads sockets, so after the event loop was blocked for longer than
 * the timeout, a reply already waiting in the socket would lose to the timer. Waiting one more turn
 * (setImmediate runs after the I/O phase) lets such a reply win; only a reply that truly is late fails.
 */
const afterPendingIo = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

// Redis glob syntax: a prefix is matched literally, whatever characters it holds.
const escapeGlob = (text: string) => text.replace(/[*?[\]\\]/g, "\\$&")

/** Builds one cache instance, its invalidation subscriber (when L2 is on) closed with the scope. */
export const makeCache = (
  options: Partial<CacheOptions> = {},
  redis: Option.Option<RedisConnection> = Option.none()
): Effect.Effect<CacheService, never, Scope.Scope> =>
  Effect.gen(function* () {
    const opts = { ...defaultCacheOptions, ...options }
    const instanceId = opts.instanceId ?? randomUUID()
    // With L2, a short L1 life bounds staleness from missed invalidations; alone, L1 is the only tier
    // and the entry's own TTL applies.
    const l1TtlMs = Option.isSome(redis) ? Duration.toMillis(opts.l1Ttl) : Number.POSITIVE_INFINITY
    const l2Timeout = Duration.toMillis(opts.l2Timeout)
    const channel = `${opts.prefix}bus:invalidate`
    const softTimeout = Effect.sleep(Duration.millis(l2Timeout)).pipe(Effect.andThen(afterPendingIo))
    const lru = new Lru(opts.l1MaxEntries, opts.l1MaxBytes)
    const breaker = yield* makeBreaker({
      failureThreshold: opts.breakerFailures,
      resetAfter: opts.breakerReset
    })
    // Flights outlive the callers that started them and end with the cache.
    const flightFibers = yield* FiberSet.make<void, never>()
    const flights = new Map<string, Deferred.Deferred<Found<unknown>, unknown>>()

    const counts = {
      gets: 0,
      hits: 0,
      misses: 0,
      coalesced: 0,
      l1: { hits: 0, misses: 0, sets: 0, invalidations: 0 },
      l2: { hits: 0, misses: 0, sets: 0, deletes: 0, errors: 0, timeouts: 0, rejected: 0 },
      loads: { count: 0, failures: 0, totalMs: 0, maxMs: 0 }
    }

    // A call's outcome is counted in one synchronous step, so `hits + misses = gets` holds at every
    // instant, interrupted calls included (counted as misses).
    const countCall = (source: Source) => {
      counts.gets++
      if (source === "l1" || source === "l2") counts.hits++
      else counts.misses++
    }

    const fullKey = (key: string) => `${opts.prefix}${key}`

    // --- L2: every call bounded by the soft timeout and guarded by the breaker; None when unavailable.
    const l2 = <A>(run: (client: IORedis) => Promise<A>): Effect.Effect<Option.Option<A>> =>
      Option.match(redis, {
        onNone: () => Effect.succeedNone,
        onSome: (connection) =>
          breaker
            .guard(
              Effect.raceFirst(
                Effect.tryPromise(() => run(connection.client)),
                softTimeout.pipe(Effect.andThen(Effect.fail(new Cause.TimeoutError())))
              )
            )
            .pipe(
              Effect.map(Option.some),
              Effect.catch((error) =>
                Effect.sync(() => {
                  if (error._tag === "BreakerOpen") {
                    counts.l2.rejected++
                  } else {
                    counts.l2.errors++
                    if (Cause.isTimeoutError(error)) counts.l2.timeouts++
                  }
                  return Option.none<A>()
                })
              )
            )
      })

    const publish = (message: InvalidationMessage) => (pipeline: ReturnType<IORedis["pipeline"]>) =>
      Option.isSome(redis) ? pipeline.publish(channel, encodeInvalidation(message)) : pipeline

    // A pipeline reports each command's error in its result instead of rejecting.
    const execPipeline = async (pipeline: ReturnType<IORedis["pipeline"]>) => {
      const results = (await pipeline.exec()) ?? []
      for (const [error] of results) if (error) throw error
      return results
    }

    // --- L1
    const readL1 = <A, I>(full: string, schema: Schema.Codec<A, I>, now: number): Option.Option<A> => {
      const entry = lru.get(full, now)
      if (entry === undefined) return Option.none()
      if (entry.decoded !== undefined && entry.decoded.schema === schema) {
        return Option.some(entry.decoded.value as A)
      }
      const decoded = jsonCodec(schema).decode(entry.json)
      if (Result.isFailure(decoded)) {
        // Written under another schema for this key: not ours to return.
        lru.delete(full)
        return Option.none()
      }
      entry.decoded = { schema, value: decoded.success }
      return Option.some(decoded.success)
    }

    const writeL1 = <A>(full: string, json: string, value: A, schema: unknown, expiresAt: number) => {
      const entry: LruEntry = {
        json,
        bytes: entryBytes(full, json),
        expiresAt,
        decoded: { schema, value }
      }
      lru.set(full, entry)
      counts.l1.sets++
    }

    const lookupL2 = <A, I>(full: string, schema: Schema.Codec<A, I>): Effect.Effect<Option.Option<A>> =>
      Effect.gen(function* () {
        if (Option.isNone(redis)) return Option.none()
        const reply = yield* l2((client) => execPipeline(client.pipeline().get(full).pttl(full)))
        if (Option.isNone(reply)) return Option.none()
        const [[, json], [, pttl]] = reply.value as [[unknown, unknown], [unknown, unknown]]
        if (typeof json !== "string") {
          counts.l2.misses++
          return Option.none()
        }
        const decoded = jsonCodec(schema).decode(json)
        if (Result.isFailure(decoded)) {
          counts.l2.misses++
          return Option.none()
        }
        counts.l2.hits++
        const now = yield* Clock.currentTimeMillis
        // Never keep it in L1 longer than it has left in L2 (-1: no expiry).
        const remaining = typeof pttl === "number" && pttl >= 0 ? Math.min(pttl, l1TtlMs) : l1TtlMs
        writeL1(full, json, decoded.success, schema, now + remaining)
        return Option.some(decoded.success)
      })

    // The L1 hit path is one synchronous step after reading the clock: it is the hot path, and nothing
    // can interrupt it half-counted. Slower paths count on exit.
    const get = <A, I>(key: string, schema: Schema.Codec<A, I>): Effect.Effect<Option.Option<A>> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const full = fullKey(key)
        const cached = readL1(full, schema, now)
        if (Option.isSome(cached)) {
          counts.l1.hits++
          countCall("l1")
          return Effect.succeed(cached)
        }
        counts.l1.misses++
        if (Option.isNone(redis)) {
          countCall("none")
          return Effect.succeedNone
        }
        return lookupL2(full, schema).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => countCall(Exit.isSuccess(exit) && Option.isSome(exit.value) ? "l2" : "none"))
          )
        )
      })

    const jitteredTtl = (ttl: Duration.Input) =>
      Effect.map(Random.next, (r) =>
        Math.max(1, Math.round(Duration.toMillis(ttl) * (1 - opts.ttlJitter * r)))
      )

    const encodeOrDie = <A, I>(full: string, value: A, schema: Schema.Codec<A, I>) =>
      Result.match(jsonCodec(schema).encode(value), {
        onFailure: (error) =>
          Effect.die(new Error(`cache: value for ${full} does not encode: ${error.message}`)),
        onSuccess: (json) => Effect.succeed(json)
      })

    const writeL2 = (
      full: string,
      entry: { readonly json: string; readonly ttlMs: number },
      broadcast: boolean
    ) =>
      Effect.flatMap(
        l2((client) => {
          const pipeline = client.pipeline().set(full, entry.json, "PX", entry.ttlMs)
          return execPipeline(broadcast ? publish({ origin: instanceId, keys: [full] })(pipeline) : pipeline)
        }),
        (written) =>
          Effect.sync(() => {
            if (Option.isSome(written)) counts.l2.sets++
          })
      )

    const set = <A, I>(key: string, value: A, schema: Schema.Codec<A, I>, ttl: Duration.Input) =>
      Effect.gen(function* () {
        const full = fullKey(key)
        const json = yield* encodeOrDie(full, value, schema)
        const ttlMs = yield* jitteredTtl(ttl)
        const now = yield* Clock.currentTimeMillis
        writeL1(full, json, value, schema, now + Math.min(ttlMs, l1TtlMs))
        yield* writeL2(full, { json, ttlMs }, true)
      })

    const del = (key: string) =>
      Effect.gen(function* () {
        const full = fullKey(key)
        yield* Effect.sync(() => lru.delete(full))
        const deleted = yield* l2((client) =>
          execPipeline(publish({ origin: instanceId, keys: [full] })(client.pipeline().unlink(full)))
        )
        if (Option.isSome(deleted)) counts.l2.deletes++
      })

    const deleteByPrefix = (prefix: string) =>
      Effect.gen(function* () {
        const full = fullKey(prefix)
        yield* Effect.sync(() => lru.deleteByPrefix(full))
        if (Option.isNone(redis)) return
        const pattern = `${escapeGlob(full)}*`
        let cursor = "0"
        do {
          const page = yield* l2((client) => client.scan(cursor, "MATCH", pattern, "COUNT", SCAN_BATCH))
          if (Option.isNone(page)) return
          const [next, keys] = page.value
          cursor = next
          if (keys.length > 0) {
            const unlinked = yield* l2((client) => client.unlink(...keys))
            if (Option.isSome(unlinked)) counts.l2.deletes += unlinked.value
          }
        } while (cursor !== "0")
        yield* l2((client) =>
          client.publish(channel, encodeInvalidation({ origin: instanceId, prefix: full }))
        )
      })

    // One flight per key: the L2 lookup and the loader run in a fiber of the cache's own, so no caller's
    // interruption can cancel them for the others. Checking L1 and the flight table happens in one
    // synchronous step, and a loaded value lands in L1 before its flight is forgotten, so no caller can
    // slip between the two and start a second load. A failed flight is forgotten before its result is
    // published, so a failure is never served to a later call.
    const getOrLoad = <A, I, E, R>(
      key: string,
      schema: Schema.Codec<A, I>,
      ttl: Duration.Input,
      loader: Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> =>
      // Uninterruptible until the flight is registered and forked: a registered flight that never starts
      // would hang every later caller of the key.
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const full = fullKey(key)
          const cached = readL1(full, schema, now)
          if (Option.isSome(cached)) {
            counts.l1.hits++
            countCall("l1")
            return Effect.succeed(cached.value)
          }
          counts.l1.misses++
          const joined = flights.get(full) as Deferred.Deferred<Found<A>, E> | undefined
          if (joined !== undefined) counts.coalesced++
          const flight =
            joined !== undefined ? Effect.succeed(joined) : startFlight(full, schema, ttl, loader)
          return flight.pipe(
            Effect.flatMap((deferred) => restore(Deferred.await(deferred))),
            Effect.onExit((exit) =>
              Effect.sync(() => countCall(Exit.isSuccess(exit) ? exit.value.source : "none"))
            ),
            Effect.map((found) => found.value)
          )
        })
      )

    const startFlight = <A, I, E, R>(
      full: string,
      schema: Schema.Codec<A, I>,
      ttl: Duration.Input,
      loader: Effect.Effect<A, E, R>
    ): Effect.Effect<Deferred.Deferred<Found<A>, E>, never, R> => {
      const flight = Deferred.makeUnsafe<Found<A>, E>()
      flights.set(full, flight as Deferred.Deferred<Found<unknown>, unknown>)
      let pendingWrite: { readonly json: string; readonly ttlMs: number } | undefined
      const load = Effect.gen(function* () {
        const fromL2 = yield* lookupL2(full, schema)
        if (Option.isSome(fromL2)) return { value: fromL2.value, source: "l2" as Source }
        const started = yield* Clock.currentTimeMillis
        const value = yield* loader.pipe(
          Effect.onExit((exit) =>
            Effect.flatMap(Clock.currentTimeMillis, (end) =>
              Effect.sync(() => {
                const took = end - started
                counts.loads.count++
                counts.loads.totalMs += took
                counts.loads.maxMs = Math.max(counts.loads.maxMs, took)
                if (Exit.isFailure(exit)) counts.loads.failures++
              })
            )
          )
        )
        const json = yield* encodeOrDie(full, value, schema)
        const ttlMs = yield* jitteredTtl(ttl)
        const loadedAt = yield* Clock.currentTimeMillis
        writeL1(full, json, value, schema, loadedAt + Math.min(ttlMs, l1TtlMs))
        pendingWrite = { json, ttlMs }
        return { value, source: "loader" as Source }
      })
      // Interruptible inside, explicitly (the fork starts inside the caller's mask), so the soft-timeout races in
      // L2 calls can cancel their loser. Waiters are released on every exit, interruption included.
      const flightBody = load.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => flights.delete(full)).pipe(Effect.andThen(Deferred.done(flight, exit)))
        ),
        // Written to L2 after the waiters are released. A fill is not broadcast: no other instance
        // can hold a fresher copy than the one just loaded.
        Effect.andThen(
          Effect.suspend(() =>
            pendingWrite === undefined ? Effect.void : writeL2(full, pendingWrite, false)
          )
        ),
        Effect.ignore
      )
      return Effect.interruptible(flightBody).pipe(FiberSet.run(flightFibers), Effect.as(flight))
    }

    // --- Bus: evict what other instances changed. After the subscriber reconnects, invalidations may
    // have been missed, so the whole L1 is dropped.
    if (Option.isSome(redis)) {
      const subscriber = yield* redis.value.duplicate("focusforge-cache-bus", { enableOfflineQueue: true })
      // The duplicate is usually ready already: its first "ready" has fired before this listener exists.
      let connectedBefore = subscriber.status === "ready"
      subscriber.on("ready", () => {
        if (connectedBefore) lru.clear()
        connectedBefore = true
      })
      subscriber.on("message", (from: string, raw: string) => {
        if (from !== channel) return
        const message = decodeInvalidation(raw)
        if (Result.isFailure(message) || message.success.origin === instanceId) return
        counts.l1.invalidations++
        for (const key of message.success.keys ?? []) lru.delete(key)
        if (message.success.prefix !== undefined) lru.deleteByPrefix(message.success.prefix)
      })
      yield* Effect.tryPromise(() => subscriber.subscribe(channel)).pipe(
        Effect.timeoutOption(Duration.seconds(2)),
        Effect.ignore
      )
    }

    // In-flight loads end with the cache; their waiters see the interruption.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        flights.clear()
        lru.clear()
      })
    )

    const stats = Effect.all([breaker.state, breaker.trips]).pipe(
      Effect.map(
        ([state, trips]): CacheStats => ({
          gets: counts.gets,
          hits: counts.hits,
          misses: counts.misses,
          coalesced: counts.coalesced,
          l1: {
            ...counts.l1,
            evictions: lru.counters.evictions,
            expirations: lru.counters.expirations,
            entries: lru.size,
            bytes: lru.bytes
          },
          l2: { enabled: Option.isSome(redis), ...counts.l2 },
          loads: { ...counts.loads },
          breaker: { state: state._tag, trips }
        })
      )
    )

    const health: HealthCheck = Effect.gen(function* () {
      const l1 = { entries: lru.size, bytes: lru.bytes }
      if (Option.isNone(redis)) return { status: "healthy" as const, details: { tiers: ["l1"], l1 } }
      const redisState = yield* redis.value.status
      const breakerState = (yield* breaker.state)._tag
      const details = { tiers: ["l1", "l2"], redis: redisState, breaker: breakerState, l1 }
      if (redisState !== "ready" || breakerState !== "Closed") {
        return {
          status: "degraded" as const,
          message: `L2 unavailable (redis ${redisState}, breaker ${breakerState}): serving from L1 only`,
          details
        }
      }
      return { status: "healthy" as const, details }
    })

    return {
      instanceId,
      prefix: opts.prefix,
      get,
      set,
      delete: del,
      deleteByPrefix,
      getOrLoad,
      stats,
      health
    } satisfies CacheService
  })

const positiveInt = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected a positive integer", validation: (n) => n > 0 }).pipe(
    Config.withDefault(fallback)
  )

const optionsConfig = Config.all({
  prefix: Config.String("CACHE_PREFIX").pipe(Config.withDefault(defaultCacheOptions.prefix)),
  l1MaxEntries: positiveInt("CACHE_L1_MAX_ENTRIES", defaultCacheOptions.l1MaxEntries),
  l1MaxBytes: positiveInt("CACHE_L1_MAX_BYTES", defaultCacheOptions.l1MaxBytes),
  l1TtlMs: positiveInt("CACHE_L1_TTL_MS", 30_000),
  l2TimeoutMs: positiveInt("CACHE_L2_TIMEOUT_MS", 100)
})

/** Cache settings from the environment (see README, "Cache"). */
export const loadCacheOptions = optionsConfig.pipe(
  Effect.map(
    (raw): Partial<CacheOptions> => ({
      prefix: raw.prefix,
      l1MaxEntries: raw.l1MaxEntries,
      l1MaxBytes: raw.l1MaxBytes,
      l1Ttl: Duration.millis(raw.l1TtlMs),
      l2Timeout: Duration.millis(raw.l2TimeoutMs)
    })
  ),
  Effect.mapError(
    (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
  )
)

/** A cache on whatever the `Redis` service holds: L1 only without a connection, L1 + L2 with one. */
export const cacheLayer = (options: Partial<CacheOptions> = {}) =>
  Layer.effect(
    Cache,
    Effect.gen(function* () {
      const { connection } = yield* Redis
      const health = yield* Health
      yield* logReleased("cache")
      const cache = yield* makeCache(options, connection)
      yield* health.register("cache", cache.health, { critical: false })
      return cache
    })
  )

/** The application's cache, configured from the environment. */
export const CacheLive = Layer.unwrap(Effect.map(loadCacheOptions, cacheLayer))

/**
 * The seed's cache decorator as a combinator: the effect runs only on a miss, once per key per process.
 *
 *     const profile = loadProfile(id).pipe(cached({ key: `profile:${id}`, schema: Profile, ttl: "5 minutes" }))
 */
export const cached =
  <A, I>(options: {
    readonly key: string
    readonly schema: Schema.Codec<A, I>
    readonly ttl: Duration.Input
  }) =>
  <E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R | Cache> =>
    Effect.flatMap(Cache, (cache) => cache.getOrLoad(options.key, options.schema, options.ttl, effect))

/** The function form: a keyed loader whose results are cached under the key its arguments name. */
export const cachedFunction =
  <Args extends ReadonlyArray<unknown>, A, I>(options: {
    readonly key: (...args: Args) => string
    readonly schema: Schema.Codec<A, I>
    readonly ttl: Duration.Input
  }) =>
  <E, R>(load: (...args: Args) => Effect.Effect<A, E, R>) =>
  (...args: Args): Effect.Effect<A, E, R | Cache> =>
    Effect.flatMap(Cache, (cache) =>
      cache.getOrLoad(options.key(...args), options.schema, options.ttl, load(...args))
    )
