import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Schema } from "effect"
import { AiOptimizerLive } from "../src/layers/ai/AiOptimizer.ts"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { Cache, CacheLive } from "../src/layers/cache/Cache.ts"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { EventStoreMetricsLive } from "../src/layers/eventstore/EventStoreMetrics.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { Metrics } from "../src/layers/observability/Metrics.ts"
import { RedisLive } from "../src/layers/redis/Redis.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Instrumentation, InstrumentationLive } from "../src/programs/instrumentation.ts"
import { counterDecider } from "./support/counter.ts"

const TestLayer = InstrumentationLive.pipe(
  Layer.provideMerge(Layer.mergeAll(ActorSystem.layer, CacheLive, AiOptimizerLive)),
  Layer.provideMerge(RedisLive),
  Layer.provideMerge(EventStoreMetricsLive.pipe(Layer.provide(EventStoreSqliteMemory))),
  Layer.provideMerge(Layer.mergeAll(Metrics.layer, Health.layer)),
  Layer.provideMerge(AppConfigTest())
)

const scrape = Effect.flatMap(Metrics, (metrics) => Effect.promise(() => metrics.registry.metrics()))

const sample = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("instrumentation", () => {
  it.layer(TestLayer)("component statistics in the registry", (it) => {
    it.effect("appends, actors, cache and AI optimizer state reach /metrics", () =>
      Effect.gen(function* () {
        const counters = yield* (yield* ActorSystem).register(counterDecider)
        yield* counters.send("c-1", { _tag: "Increment", by: 1 })
        yield* counters.send("c-1", { _tag: "Increment", by: 1 })
        const cache = yield* Cache
        yield* cache.getOrLoad("instrumentation:key", Schema.String, "1 minute", Effect.succeed("value"))
        yield* cache.getOrLoad("instrumentation:key", Schema.String, "1 minute", Effect.succeed("value"))
        yield* (yield* Instrumentation).sample

        const text = yield* scrape
        expect(sample(text, 'focusforge_event_store_events_appended_total{store="sqlite"}')).toBe(2)
        expect(sample(text, 'focusforge_actors_live{kind="counter"}')).toBe(1)
        expect(sample(text, 'focusforge_cache_hits_total{tier="l1"}')).toBe(1)
        expect(sample(text, 'focusforge_ai_breaker_state{breaker="provider"}')).toBe(0)

        // A conflicting append is timed and counted as a conflict.
        const store = yield* EventStore
        yield* store
          .append("counter-c-1", 0, [
            {
              eventId: crypto.randomUUID(),
              type: "Incremented",
              data: { _tag: "Incremented", by: 1 },
              metadata: { timestamp: new Date(0).toISOString() }
            }
          ])
          .pipe(Effect.ignore)
        const after = yield* scrape
        expect(sample(after, 'focusforge_event_store_conflicts_total{store="sqlite"}')).toBe(1)
      })
    )
  })
})
