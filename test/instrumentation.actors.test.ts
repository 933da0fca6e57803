import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { AiOptimizerLive } from "../src/layers/ai/AiOptimizer.ts"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { CacheLive } from "../src/layers/cache/Cache.ts"
import { EventStoreMetricsLive } from "../src/layers/eventstore/EventStoreMetrics.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { Metrics } from "../src/layers/observability/Metrics.ts"
import { RedisLive } from "../src/layers/redis/Redis.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Instrumentation, InstrumentationLive } from "../src/programs/instrumentation.ts"
import { counterDecider } from "./support/counter.ts"

/** The live-actor bound as operators see it: gauges of live actors and the ceiling, passivations by reason. */
const TestLayer = InstrumentationLive.pipe(
  Layer.provideMerge(Layer.mergeAll(ActorSystem.layer, CacheLive, AiOptimizerLive)),
  Layer.provideMerge(RedisLive),
  Layer.provideMerge(EventStoreMetricsLive.pipe(Layer.provide(EventStoreSqliteMemory))),
  Layer.provideMerge(Layer.mergeAll(Metrics.layer, Health.layer)),
  Layer.provideMerge(AppConfigTest()),
  Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ ACTORS_MAX: "2" })))
)

/** The value of the series `name` whose labels include `labels`, from Prometheus text. */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`)
  const line = text
    .split("\n")
    .find(
      (candidate) =>
        (candidate.startsWith(`${name} `) || candidate.startsWith(`${name}{`)) &&
        wanted.every((label) => candidate.includes(label))
    )
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1))
}

const scrape = Effect.gen(function* () {
  yield* (yield* Instrumentation).sample
  const metrics = yield* Metrics
  return yield* Effect.promise(() => metrics.registry.metrics())
})

describe("live-actor metrics", () => {
  it.layer(TestLayer)("with ACTORS_MAX=2", (it) => {
    it.effect("every passivation series exists from the start; live, ceiling and reasons are counted", () =>
      Effect.gen(function* () {
        const counters = yield* (yield* ActorSystem).register(counterDecider)
        const before = yield* scrape
        for (const reason of ["idle", "evicted", "empty"]) {
          expect(sample(before, "focusforge_actor_passivations_total", { kind: "counter", reason })).toBe(0)
        }
        expect(sample(before, "focusforge_actors_max")).toBe(2)
        expect(sample(before, "focusforge_actors_live_all_kinds")).toBe(0)

        for (const id of ["a", "b", "c"]) yield* counters.send(id, { _tag: "Increment" })
        yield* counters.read("never-written")
        yield* Effect.flip(counters.send("also-never-written", { _tag: "Decrement" }))

        const after = yield* scrape
        expect(sample(after, "focusforge_actors_live", { kind: "counter" })).toBe(2)
        expect(sample(after, "focusforge_actors_live_all_kinds")).toBe(2)
        const passivations = (reason: string) =>
          sample(after, "focusforge_actor_passivations_total", { kind: "counter", reason })
        expect([passivations("evicted"), passivations("empty"), passivations("idle")]).toEqual([1, 1, 0])
      })
    )
  })
})
