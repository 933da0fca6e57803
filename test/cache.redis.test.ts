import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Redacted, Ref, Schema } from "effect"
import { type CacheOptions, makeCache } from "../src/layers/cache/Cache.ts"
import { makeRedisConnection } from "../src/layers/redis/Redis.ts"
import { SHARED_REDIS_URL, testPrefix } from "./support/redisServer.ts"

const TaskId = Schema.String.pipe(Schema.brand("TaskId"))
const Plan = Schema.Struct({
  id: TaskId,
  due: Schema.Date,
  grid: Schema.Array(Schema.Array(Schema.Number)),
  blocks: Schema.Array(Schema.Struct({ startsAt: Schema.Date, minutes: Schema.Number }))
})
const plan: typeof Plan.Type = {
  id: TaskId.make("task-42"),
  due: new Date("2025-03-04T05:06:07.089Z"),
  grid: [[1, 2], [], [3, [4].length]],
  blocks: [
    { startsAt: new Date("2025-03-04T06:00:00.000Z"), minutes: 25 },
    { startsAt: new Date("2025-03-04T06:30:00.000Z"), minutes: 45 }
  ]
}

/** One app instance: its own command connection, its own bus subscriber, its own L1. */
const instance = (prefix: string, options: Partial<CacheOptions> = {}) =>
  Effect.gen(function* () {
    const connection = yield* makeRedisConnection(Redacted.make(SHARED_REDIS_URL))
    const cache = yield* makeCache({ prefix, ...options }, Option.some(connection))
    return { cache, raw: connection.client }
  })

const pollUntil = <A>(effect: Effect.Effect<A>, done: (a: A) => boolean, timeoutMs = 5_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const value = yield* effect
      if (done(value)) return value
      if (Date.now() > deadline) return yield* Effect.die(new Error(`not reached within ${timeoutMs} ms`))
      yield* Effect.sleep("10 millis")
    }
  })

describe("Cache with Redis L2 (127.0.0.1:6379)", () => {
  it.live("1,000 concurrent getOrLoad on one cold key run the loader once", () =>
    Effect.gen(function* () {
      const { cache } = yield* instance(testPrefix())
      const runs = yield* Ref.make(0)
      const loader = Ref.update(runs, (n) => n + 1).pipe(
        Effect.andThen(Effect.sleep("20 millis")),
        Effect.as(plan)
      )
      const values = yield* Effect.all(
        Array.from({ length: 1_000 }, () => cache.getOrLoad("cold", Plan, "1 minute", loader)),
        { concurrency: "unbounded" }
      )
      expect(yield* Ref.get(runs)).toBe(1)
      expect(values).toHaveLength(1_000)
      for (const value of values) expect(value).toEqual(plan)
      const stats = yield* cache.stats
      expect(stats.gets).toBe(1_000)
      expect(stats.hits + stats.misses).toBe(stats.gets)
      expect(stats.coalesced).toBe(999)
      expect(stats.loads.count).toBe(1)
    })
  )

  it.live("a miss is not held for the soft timeout (the flight's L2 calls stay interruptible)", () =>
    Effect.gen(function* () {
      // A soft timeout far beyond the bound: a miss that waited for it would fail the bound below.
      const { cache } = yield* instance(testPrefix(), { l2Timeout: "60 seconds" })
      for (let i = 0; i < 3; i++) {
        const value = yield* cache.getOrLoad(`miss:${i}`, Schema.Number, "1 minute", Effect.succeed(i)).pipe(
          Effect.timeoutOrElse({
            duration: "10 seconds",
            orElse: () => Effect.fail("held for the soft timeout" as const)
          })
        )
        expect(value).toBe(i)
      }
    })
  )

  it.live("a value with Date, branded id and nested arrays round-trips through L2", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const a = yield* instance(prefix)
      yield* a.cache.set("plan", plan, Plan, "1 minute")
      // What Redis holds is plain JSON of the encoded form.
      const stored = yield* Effect.promise(() => a.raw.get(`${prefix}plan`))
      expect(JSON.parse(stored ?? "null")).toMatchObject({ id: "task-42", due: "2025-03-04T05:06:07.089Z" })

      const b = yield* instance(prefix)
      const fromL2 = Option.getOrThrow(yield* b.cache.get("plan", Plan))
      expect(fromL2).toEqual(plan)
      expect(fromL2.due).toBeInstanceOf(Date)
      expect(fromL2.blocks[1]?.startsAt).toBeInstanceOf(Date)
      const afterL2 = yield* b.cache.stats
      expect(afterL2.l2.hits).toBe(1)
      expect(afterL2.l1.hits).toBe(0)

      // The L2 hit filled B's L1: the next read does not touch Redis.
      expect(Option.getOrThrow(yield* b.cache.get("plan", Plan))).toEqual(plan)
      const afterL1 = yield* b.cache.stats
      expect(afterL1.l1.hits).toBe(1)
      expect(afterL1.l2.hits).toBe(1)
    })
  )

  it.live("getOrLoad on a second instance is served from L2 without running its loader", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const a = yield* instance(prefix)
      const b = yield* instance(prefix)
      yield* a.cache.getOrLoad("shared", Plan, "1 minute", Effect.succeed(plan))
      // The L2 write of a fill happens after the waiters are released.
      yield* pollUntil(
        Effect.promise(() => a.raw.exists(`${prefix}shared`)),
        (n) => n === 1
      )
      const runs = yield* Ref.make(0)
      const value = yield* b.cache.getOrLoad(
        "shared",
        Plan,
        "1 minute",
        Ref.update(runs, (n) => n + 1).pipe(Effect.as(plan))
      )
      expect(value).toEqual(plan)
      expect(yield* Ref.get(runs)).toBe(0)
      expect((yield* b.cache.stats).hits).toBe(1)
    })
  )

  it.live("a delete on A evicts the key from B's L1 through the bus", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const a = yield* instance(prefix)
      const b = yield* instance(prefix)
      yield* a.cache.set("doomed", "v1", Schema.String, "10 minutes")
      expect(yield* b.cache.get("doomed", Schema.String)).toEqual(Option.some("v1"))
      expect((yield* b.cache.stats).l1.entries).toBe(1)

      yield* a.cache.delete("doomed")
      const started = Date.now()
      yield* pollUntil(b.cache.get("doomed", Schema.String), Option.isNone, 2_000)
      yield* Effect.logInfo(`B missed ${Date.now() - started} ms after A's delete`)
      const stats = yield* b.cache.stats
      expect(stats.l1.invalidations).toBeGreaterThanOrEqual(1)
      // A ignores its own messages.
      expect((yield* a.cache.stats).l1.invalidations).toBe(0)
    })
  )

  it.live("a set on A replaces B's L1 copy through the bus", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const a = yield* instance(prefix)
      const b = yield* instance(prefix)
      yield* a.cache.set("mutable", "v1", Schema.String, "10 minutes")
      expect(yield* b.cache.get("mutable", Schema.String)).toEqual(Option.some("v1"))
      yield* a.cache.set("mutable", "v2", Schema.String, "10 minutes")
      // Without the bus B would keep serving v1 from L1 for its L1 TTL (30 s).
      yield* pollUntil(b.cache.get("mutable", Schema.String), (v) => Option.getOrNull(v) === "v2", 2_000)
    })
  )

  it.live("deleteByPrefix removes the keys from Redis by SCAN and from other instances' L1", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const a = yield* instance(prefix)
      const b = yield* instance(prefix)
      const keys = Array.from({ length: 1_200 }, (_, i) => `user:1:${i}`)
      yield* Effect.forEach(keys, (key) => a.cache.set(key, key, Schema.String, "1 minute"), {
        concurrency: 50
      })
      yield* a.cache.set("user:2:0", "keep", Schema.String, "1 minute")
      yield* a.cache.set("user:1*odd", "glob chars are literal", Schema.String, "1 minute")
      expect(yield* b.cache.get("user:1:0", Schema.String)).toEqual(Option.some("user:1:0"))

      yield* a.cache.deleteByPrefix("user:1:")
      const remaining = yield* Effect.promise(async () => {
        const found: Array<string> = []
        let cursor = "0"
        do {
          const [next, keys] = await a.raw.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000)
          cursor = next
          found.push(...keys)
        } while (cursor !== "0")
        return found
      })
      expect(remaining.sort()).toEqual([`${prefix}user:1*odd`, `${prefix}user:2:0`])
      yield* pollUntil(b.cache.get("user:1:0", Schema.String), Option.isNone, 2_000)
      expect(yield* b.cache.get("user:2:0", Schema.String)).toEqual(Option.some("keep"))
    })
  )

  it.live("TTLs reach Redis, shortened by at most the jitter", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      const { cache, raw } = yield* instance(prefix, { ttlJitter: 0.1 })
      yield* cache.set("ttl", 1, Schema.Number, "100 seconds")
      const pttl = yield* Effect.promise(() => raw.pttl(`${prefix}ttl`))
      expect(pttl).toBeGreaterThan(89_000)
      expect(pttl).toBeLessThanOrEqual(100_000)
    })
  )

  it.live("hits + misses = gets exactly after a concurrent run over both tiers", () =>
    Effect.gen(function* () {
      const prefix = testPrefix()
      // A generous soft timeout: this test is about counting, not about a CPU-starved event loop.
      const a = yield* instance(prefix, { l1MaxEntries: 10, l2Timeout: "2 seconds" })
      const b = yield* instance(prefix, { l1MaxEntries: 10, l2Timeout: "2 seconds" })
      let reads = 0
      const ops = Array.from({ length: 2_000 }, (_, i) => {
        const cache = i % 2 === 0 ? a.cache : b.cache
        const key = `k${(i * 7919) % 37}`
        switch (i % 5) {
          case 0:
          case 1:
            reads++
            return cache.get(key, Schema.Number)
          case 2:
            reads++
            return cache.getOrLoad(key, Schema.Number, "1 minute", Effect.succeed(i))
          case 3:
            return cache.set(key, i, Schema.Number, "1 minute")
          default:
            return cache.delete(key)
        }
      })
      yield* Effect.all(ops, { concurrency: 100, discard: true })
      const [sa, sb] = [yield* a.cache.stats, yield* b.cache.stats]
      expect(sa.gets + sb.gets).toBe(reads)
      for (const s of [sa, sb]) {
        expect(s.hits + s.misses).toBe(s.gets)
        expect(s.l1.hits + s.l1.misses).toBe(s.gets)
      }
      expect(sa.l2.hits + sb.l2.hits).toBeGreaterThan(0)
    })
  )
})
