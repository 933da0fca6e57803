import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, Redacted, Ref, Schema } from "effect"
import { Redis as IORedis } from "ioredis"
import { performance } from "node:perf_hooks"
import { type CacheService, makeCache } from "../src/layers/cache/Cache.ts"
import { makeRedisConnection } from "../src/layers/redis/Redis.ts"
import { type RedisProcess, freePort, startRedis, testPrefix } from "./support/redisServer.ts"
import { startServer } from "./support/server.ts"

const SOFT_TIMEOUT = Duration.millis(100)
const LOADER_TIME = Duration.millis(5)
// A generous bound, far above soft timeout + loader time, for a 2-core machine shared with other runs.
// Without the fail-safe a hung Redis would hold calls for as long as it hangs.
const LATENCY_BOUND_MS = 1_500

/** A private redis-server for the test, killed with the scope whatever happens. */
const privateRedis = (port?: number) =>
  Effect.acquireRelease(
    Effect.promise(() => startRedis(port)),
    (redis) => Effect.promise(() => redis.kill())
  )

const percentile = (samples: ReadonlyArray<number>, p: number) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
}

/** Calls the cache in a loop until stopped, recording getOrLoad latency and every failed call. */
const workload = (cache: CacheService) =>
  Effect.gen(function* () {
    const stop = yield* Ref.make(false)
    const latencies: Array<number> = []
    const failures: Array<unknown> = []
    let reads = 0
    const loop = Effect.gen(function* () {
      let i = 0
      while (!(yield* Ref.get(stop))) {
        i++
        const started = performance.now()
        const loaded = yield* Effect.exit(
          cache.getOrLoad(
            `load:${i % 40}`,
            Schema.Number,
            "1 minute",
            Effect.sleep(LOADER_TIME).pipe(Effect.as(i))
          )
        )
        latencies.push(performance.now() - started)
        reads++
        const others = yield* Effect.exit(
          Effect.all([
            cache.set(`set:${i % 20}`, { at: new Date(i) }, Schema.Struct({ at: Schema.Date }), "1 minute"),
            cache.get(`set:${(i + 7) % 20}`, Schema.Struct({ at: Schema.Date })),
            i % 10 === 0 ? cache.delete(`load:${i % 40}`) : Effect.void
          ])
        )
        reads++
        for (const exit of [loaded, others] as ReadonlyArray<Exit.Exit<unknown>>)
          if (Exit.isFailure(exit)) failures.push(exit.cause)
      }
    })
    const fibers = yield* Effect.forEach(Array.from({ length: 4 }), () => Effect.forkChild(loop))
    return {
      stop: Ref.set(stop, true).pipe(Effect.andThen(Effect.forEach(fibers, (f) => Fiber.await(f)))),
      latencies,
      failures,
      reads: () => reads
    }
  })

const pollUntil = <A>(effect: Effect.Effect<A>, done: (a: A) => boolean, timeoutMs = 10_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* effect
      if (done(value)) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not reached within ${timeoutMs} ms`))
      yield* Effect.sleep("25 millis")
    }
  })

/** Whether a key is in the given Redis, asked over a fresh connection. */
const existsIn = (redis: RedisProcess, key: string) =>
  Effect.promise(async () => {
    const client = new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    client.on("error", () => {})
    try {
      await client.connect()
      return (await client.exists(key)) === 1
    } catch {
      return false
    } finally {
      client.disconnect()
    }
  })

const outageCache = (redis: RedisProcess, prefix: string) =>
  Effect.gen(function* () {
    const connection = yield* makeRedisConnection(Redacted.make(redis.url), {
      maxReconnectDelay: "200 millis",
      connectTimeout: "500 millis"
    })
    return yield* makeCache(
      { prefix, l2Timeout: SOFT_TIMEOUT, breakerFailures: 5, breakerReset: "300 millis" },
      Option.some(connection)
    )
  })

describe("Cache when Redis goes away", () => {
  it.live("Redis killed mid-run: no call fails, health degrades, writes reach Redis once it is back", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const first = yield* privateRedis()
      const cache = yield* outageCache(first, prefix)
      const load = yield* workload(cache)

      yield* Effect.sleep("300 millis")
      expect((yield* cache.health).status).toBe("healthy")
      yield* Effect.promise(() => first.kill())
      const degraded = yield* pollUntil(cache.health, (h) => h.status === "degraded")
      expect(degraded.details).toMatchObject({ tiers: ["l1", "l2"] })
      yield* Effect.sleep("500 millis")
      const during = yield* cache.stats
      expect(during.l2.errors + during.l2.rejected).toBeGreaterThan(0)

      const second = yield* privateRedis(first.port)
      yield* pollUntil(
        cache
          .set("after-restart", 1, Schema.Number, "1 minute")
          .pipe(Effect.andThen(existsIn(second, `${prefix}after-restart`))),
        (found) => found
      )
      yield* pollUntil(cache.health, (h) => h.status === "healthy")
      yield* load.stop

      expect(load.failures).toEqual([])
      const stats = yield* cache.stats
      expect(stats.gets).toBe(load.reads())
      expect(stats.hits + stats.misses).toBe(stats.gets)
      const p99 = percentile(load.latencies, 99)
      yield* Effect.logInfo(`getOrLoad over ${load.latencies.length} calls: p99 ${p99.toFixed(1)} ms`)
      expect(p99).toBeLessThan(LATENCY_BOUND_MS)
    })
  )

  it.live("Redis hung (SIGSTOP): soft timeouts and the breaker keep every call answering", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const redis = yield* privateRedis()
      const cache = yield* outageCache(redis, prefix)
      const load = yield* workload(cache)
      yield* Effect.sleep("200 millis")
      yield* Effect.acquireRelease(
        Effect.sync(() => process.kill(redis.pid, "SIGSTOP")),
        () => Effect.sync(() => process.kill(redis.pid, "SIGCONT")).pipe(Effect.ignore)
      )
      yield* pollUntil(cache.stats, (s) => s.breaker.trips > 0)
      yield* Effect.sleep("1 second")
      yield* load.stop

      expect(load.failures).toEqual([])
      const stats = yield* cache.stats
      expect(stats.l2.timeouts).toBeGreaterThan(0)
      expect(stats.l2.rejected).toBeGreaterThan(0)
      expect(stats.hits + stats.misses).toBe(stats.gets)
      const p99 = percentile(load.latencies, 99)
      yield* Effect.logInfo(
        `getOrLoad with Redis hung, ${load.latencies.length} calls: p99 ${p99.toFixed(1)} ms`
      )
      expect(p99).toBeLessThan(LATENCY_BOUND_MS)
    })
  )
})

describe("/health of the real server when Redis goes away", () => {
  it.live("reports the cache degraded (200), then healthy again after Redis returns", () =>
    Effect.gen(function* () {
      const redis = yield* privateRedis()
      const server = yield* Effect.acquireRelease(
        // An explicit free port: AppConfig's PORT currently rejects the 0 that startServer defaults to.
        Effect.promise(async () =>
          startServer({ PORT: String(await freePort()), REDIS_URL: redis.url, CACHE_PREFIX: testPrefix() })
        ),
        (s) => Effect.promise(() => s.stop())
      )
      const health = Effect.promise(async () => {
        const response = await fetch(`${server.url}/health`)
        const body = (await response.json()) as {
          status: string
          components: Record<string, { status: string; details?: Record<string, unknown> }>
        }
        return { code: response.status, body }
      })
      const up = yield* pollUntil(health, (h) => h.body.components.cache?.status === "healthy")
      expect(up.body.components.cache?.details).toMatchObject({ tiers: ["l1", "l2"], redis: "ready" })

      yield* Effect.promise(() => redis.kill())
      const down = yield* pollUntil(health, (h) => h.body.components.cache?.status === "degraded")
      expect(down.code).toBe(200)
      expect(down.body.status).toBe("degraded")
      expect(down.body.components.redis?.status).toBe("degraded")

      yield* privateRedis(redis.port)
      yield* pollUntil(health, (h) => h.body.components.cache?.status === "healthy")
    }).pipe(Effect.scoped)
  )
})
