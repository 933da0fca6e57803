import { describe, expect, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Ref, Schema } from "effect"
import { TestClock } from "effect/testing"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { Cache, CacheLive, cached, cachedFunction, makeCache } from "../src/layers/cache/Cache.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { RedisLive } from "../src/layers/redis/Redis.ts"
import { BreakerOpen, makeBreaker } from "../src/layers/cache/Breaker.ts"

const TaskId = Schema.String.pipe(Schema.brand("TaskId"))
const Plan = Schema.Struct({
  id: TaskId,
  due: Schema.Date,
  grid: Schema.Array(Schema.Array(Schema.Number)),
  blocks: Schema.Array(Schema.Struct({ startsAt: Schema.Date, minutes: Schema.Number }))
})
// Structurally the same schema, but a distinct object: forces a decode from the stored JSON.
const PlanAgain = Schema.Struct({
  id: TaskId,
  due: Schema.Date,
  grid: Schema.Array(Schema.Array(Schema.Number)),
  blocks: Schema.Array(Schema.Struct({ startsAt: Schema.Date, minutes: Schema.Number }))
})
const plan: typeof Plan.Type = {
  id: TaskId.make("task-1"),
  due: new Date("2025-03-04T05:06:07.089Z"),
  grid: [[1, 2], [], [3]],
  blocks: [{ startsAt: new Date("2025-03-04T06:00:00.000Z"), minutes: 25 }]
}

class LoadFailed extends Schema.TaggedError<LoadFailed>()("LoadFailed", { attempt: Schema.Number }) {}

describe("Cache (L1 only)", () => {
  it.effect("round-trips a Date, a branded id and nested arrays through L1, decoding from JSON", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache({ ttlJitter: 0 })
      yield* cache.set("plan:1", plan, Plan, "1 minute")
      const same = yield* cache.get("plan:1", Plan)
      const decoded = yield* cache.get("plan:1", PlanAgain)
      expect(Option.getOrThrow(same)).toEqual(plan)
      const fromJson = Option.getOrThrow(decoded)
      expect(fromJson).toEqual(plan)
      expect(fromJson).not.toBe(plan)
      expect(fromJson.due).toBeInstanceOf(Date)
      expect(fromJson.blocks[0]?.startsAt).toBeInstanceOf(Date)
      // A value stored under another shape is a miss, not a wrongly typed hit.
      const other = yield* cache.get("plan:1", Schema.Struct({ count: Schema.Number }))
      expect(Option.isNone(other)).toBe(true)
    })
  )

  it.effect("expires entries after their TTL (TestClock)", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache({ ttlJitter: 0 })
      yield* cache.set("k", 1, Schema.Number, "1 minute")
      yield* TestClock.adjust("59 seconds")
      expect(yield* cache.get("k", Schema.Number)).toEqual(Option.some(1))
      yield* TestClock.adjust("2 seconds")
      expect(yield* cache.get("k", Schema.Number)).toEqual(Option.none())
      expect((yield* cache.stats).l1.expirations).toBe(1)
    })
  )

  it.effect("shortens TTLs by at most the jitter fraction", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache({ ttlJitter: 0.1 })
      for (let i = 0; i < 50; i++) yield* cache.set(`k${i}`, i, Schema.Number, "100 seconds")
      yield* TestClock.adjust("89 seconds")
      const early = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => cache.get(`k${i}`, Schema.Number)
      )
      expect(early.every(Option.isSome)).toBe(true)
      yield* TestClock.adjust("11 seconds")
      const late = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => cache.get(`k${i}`, Schema.Number)
      )
      expect(late.every(Option.isNone)).toBe(true)
    })
  )

  it.effect("bounds L1 by entries, evicting the least recently used", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache({ l1MaxEntries: 3 })
      for (const key of ["a", "b", "c"]) yield* cache.set(key, key, Schema.String, "1 hour")
      yield* cache.get("a", Schema.String)
      yield* cache.set("d", "d", Schema.String, "1 hour")
      expect(yield* cache.get("b", Schema.String)).toEqual(Option.none())
      expect(yield* cache.get("a", Schema.String)).toEqual(Option.some("a"))
      const stats = yield* cache.stats
      expect(stats.l1.entries).toBe(3)
      expect(stats.l1.evictions).toBe(1)
    })
  )

  it.effect("bounds L1 by bytes", () =>
    Effect.gen(function* () {
      const maxBytes = 16 * 1024
      const cache = yield* makeCache({ l1MaxBytes: maxBytes })
      const big = "x".repeat(2_000)
      for (let i = 0; i < 20; i++) yield* cache.set(`big${i}`, big, Schema.String, "1 hour")
      const stats = yield* cache.stats
      expect(stats.l1.bytes).toBeLessThanOrEqual(maxBytes)
      expect(stats.l1.entries).toBeLessThan(20)
      expect(stats.l1.evictions).toBe(20 - stats.l1.entries)
      expect(yield* cache.get("big19", Schema.String)).toEqual(Option.some(big))
    })
  )

  it.effect("deleteByPrefix removes exactly the keys under the prefix", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache()
      for (const key of ["user:1:a", "user:1:b", "user:10:a", "user:2:a"]) {
        yield* cache.set(key, key, Schema.String, "1 hour")
      }
      yield* cache.deleteByPrefix("user:1:")
      const left = yield* Effect.forEach(["user:1:a", "user:1:b", "user:10:a", "user:2:a"], (key) =>
        cache.get(key, Schema.String)
      )
      expect(left.map(Option.isSome)).toEqual([false, false, true, true])
    })
  )

  it.effect("a failed load reaches every waiter, is not cached, and the next call retries", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache()
      const attempts = yield* Ref.make(0)
      const failing = Ref.updateAndGet(attempts, (n) => n + 1).pipe(
        Effect.delay("10 millis"),
        Effect.flatMap((attempt) => Effect.fail(new LoadFailed({ attempt })))
      )
      // Forked from this fiber (not from `forEach` workers, whose children end with them in Effect 4):
      // 50 callers waiting at once.
      const fibers = yield* Effect.forEach(Array.from({ length: 50 }), () =>
        Effect.forkChild(cache.getOrLoad("flaky", Schema.Number, "1 minute", failing))
      )
      yield* TestClock.adjust("10 millis")
      const exits = yield* Effect.forEach(fibers, Fiber.await)
      expect(exits.every((exit) => Exit.isFailure(exit))).toBe(true)
      expect(yield* Ref.get(attempts)).toBe(1)
      const value = yield* cache.getOrLoad("flaky", Schema.Number, "1 minute", Effect.succeed(42))
      expect(value).toBe(42)
      const stats = yield* cache.stats
      expect(stats.loads.failures).toBe(1)
      expect(stats.loads.count).toBe(2)
    })
  )

  it.effect("interrupting the caller that started a load does not cancel it for the others", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache()
      const release = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const loader = Ref.update(runs, (n) => n + 1).pipe(
        Effect.andThen(Deferred.await(release)),
        Effect.as("loaded")
      )
      const leader = yield* Effect.forkChild(cache.getOrLoad("slow", Schema.String, "1 minute", loader))
      yield* Effect.yieldNow
      const follower = yield* Effect.forkChild(cache.getOrLoad("slow", Schema.String, "1 minute", loader))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(leader)
      yield* Deferred.succeed(release, undefined)
      expect(yield* Fiber.join(follower)).toBe("loaded")
      expect(yield* Ref.get(runs)).toBe(1)
      const stats = yield* cache.stats
      expect(stats.gets).toBe(2)
      expect(stats.hits + stats.misses).toBe(stats.gets)
    })
  )

  it.effect("hits + misses = gets exactly after a concurrent mixed run", () =>
    Effect.gen(function* () {
      const cache = yield* makeCache({ l1MaxEntries: 20 })
      let reads = 0
      const ops = Array.from({ length: 3_000 }, (_, i) => {
        const key = `k${(i * 7919) % 37}`
        switch (i % 4) {
          case 0:
            reads++
            return cache.get(key, Schema.Number)
          case 1:
            reads++
            return cache.getOrLoad(
              key,
              Schema.Number,
              "1 minute",
              Effect.succeed(i).pipe(Effect.delay("1 millis"))
            )
          case 2:
            return cache.set(key, i, Schema.Number, "1 minute")
          default:
            return cache.delete(key)
        }
      })
      const fiber = yield* Effect.forkChild(Effect.all(ops, { concurrency: 64, discard: true }))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const stats = yield* cache.stats
      expect(stats.gets).toBe(reads)
      expect(stats.hits + stats.misses).toBe(stats.gets)
      expect(stats.l1.hits + stats.l1.misses).toBe(stats.gets)
      expect(stats.hits).toBeGreaterThan(0)
      expect(stats.misses).toBeGreaterThan(0)
    })
  )
})

describe("cached combinator", () => {
  const L1Only = Layer.effect(Cache, makeCache())

  it.layer(L1Only)("cached and cachedFunction", (it) => {
    it.effect("runs the wrapped effect once per key", () =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const expensive = Ref.updateAndGet(runs, (n) => n + 1).pipe(
          cached({ key: "combinator:once", schema: Schema.Number, ttl: "1 minute" })
        )
        expect(yield* expensive).toBe(1)
        expect(yield* expensive).toBe(1)
        expect(yield* Ref.get(runs)).toBe(1)
      })
    )

    it.effect("the function form caches per argument", () =>
      Effect.gen(function* () {
        const calls: Array<string> = []
        const profile = cachedFunction({
          key: (id: string) => `combinator:profile:${id}`,
          schema: Schema.Struct({ id: Schema.String, seenAt: Schema.Date }),
          ttl: "1 minute"
        })((id: string) =>
          Effect.sync(() => {
            calls.push(id)
            return { id, seenAt: new Date(0) }
          })
        )
        yield* profile("a")
        yield* profile("a")
        const b = yield* profile("b")
        expect(calls).toEqual(["a", "b"])
        expect(b.seenAt).toBeInstanceOf(Date)
      })
    )
  })
})

describe("breaker (TestClock)", () => {
  it.effect("opens after consecutive failures, rejects without counting, probes once after the reset", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ failureThreshold: 5, resetAfter: "5 minutes" })
      const calls = yield* Ref.make(0)
      const failing = Ref.update(calls, (n) => n + 1).pipe(Effect.andThen(Effect.fail("boom" as const)))
      for (let i = 0; i < 5; i++) yield* Effect.exit(breaker.guard(failing))
      expect((yield* breaker.state)._tag).toBe("Open")
      const rejected = yield* Effect.flip(breaker.guard(failing))
      expect(rejected).toBeInstanceOf(BreakerOpen)
      expect(yield* Ref.get(calls)).toBe(5)
      expect(yield* breaker.trips).toBe(1)

      yield* TestClock.adjust("5 minutes")
      const gate = yield* Deferred.make<void>()
      const probe = yield* Effect.forkChild(breaker.guard(Deferred.await(gate)))
      yield* Effect.yieldNow
      expect((yield* breaker.state)._tag).toBe("HalfOpen")
      // Only one probe at a time.
      expect(yield* Effect.flip(breaker.guard(Effect.void))).toBeInstanceOf(BreakerOpen)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(probe)
      expect((yield* breaker.state)._tag).toBe("Closed")
    })
  )

  it.effect("a failed probe opens it again; an interrupted probe does not leave it half-open", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ failureThreshold: 1, resetAfter: "1 minute" })
      yield* Effect.exit(breaker.guard(Effect.fail("boom")))
      yield* TestClock.adjust("1 minute")
      yield* Effect.exit(breaker.guard(Effect.fail("boom")))
      expect((yield* breaker.state)._tag).toBe("Open")
      yield* TestClock.adjust("1 minute")
      const hung = yield* Effect.forkChild(breaker.guard(Effect.never))
      yield* Effect.yieldNow
      yield* Fiber.interrupt(hung)
      expect((yield* breaker.state)._tag).toBe("Open")
      expect(yield* breaker.trips).toBe(3)
    })
  )
})

describe("embedded default", () => {
  const Embedded = CacheLive.pipe(
    Layer.provideMerge(RedisLive),
    Layer.provideMerge(Health.layer),
    Layer.provide(AppConfigTest())
  )

  it.layer(Embedded)("no REDIS_URL", (it) => {
    it.effect("runs L1 only, reports healthy, and has no Redis connection", () =>
      Effect.gen(function* () {
        const cache = yield* Cache
        yield* cache.set("k", new Date(5), Schema.Date, Duration.minutes(1))
        expect(yield* cache.get("k", Schema.Date)).toEqual(Option.some(new Date(5)))
        const stats = yield* cache.stats
        expect(stats.l2.enabled).toBe(false)
        const report = yield* (yield* Health).report
        expect(report.components.cache).toMatchObject({ status: "healthy", details: { tiers: ["l1"] } })
        expect(report.components.redis).toBeUndefined()
      })
    )
  })
})
