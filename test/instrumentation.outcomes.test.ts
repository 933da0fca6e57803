import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer } from "effect"
import { AiOptimizerLive } from "../src/layers/ai/AiOptimizer.ts"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { CacheLive } from "../src/layers/cache/Cache.ts"
import { EventStore, VersionConflict } from "../src/eventsourcing/EventStore.ts"
import { EventStoreMetricsLive } from "../src/layers/eventstore/EventStoreMetrics.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { Metrics } from "../src/layers/observability/Metrics.ts"
import { RedisLive } from "../src/layers/redis/Redis.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Instrumentation, InstrumentationLive } from "../src/programs/instrumentation.ts"
import { counterDecider } from "./support/counter.ts"

/** Every append to the stream `counter-contested` loses the race, as if another writer always won. */
const ContestedStore = Layer.effect(
  EventStore,
  Effect.map(EventStore, (store) => ({
    ...store,
    append: (...args: Parameters<typeof store.append>) =>
      args[0] === "counter-contested"
        ? Effect.fail(new VersionConflict({ streamId: args[0], expected: args[1], actual: 0 }))
        : store.append(...args)
  }))
)

/**
 * A one-slot mailbox, so a burst of commands to one entity is refused as overloaded; two conflict retries,
 * so a command that always loses the race is retried once (the first retry does not sleep: the
 * test clock would hold a jittered one), then ends in `conflict`.
 */
const TestLayer = InstrumentationLive.pipe(
  Layer.provideMerge(Layer.mergeAll(ActorSystem.layer, CacheLive, AiOptimizerLive)),
  Layer.provideMerge(RedisLive),
  Layer.provideMerge(
    EventStoreMetricsLive.pipe(Layer.provide(ContestedStore), Layer.provide(EventStoreSqliteMemory))
  ),
  Layer.provideMerge(Layer.mergeAll(Metrics.layer, Health.layer)),
  Layer.provideMerge(AppConfigTest()),
  Layer.provide(
    ConfigProvider.layer(
      ConfigProvider.fromUnknown({ ACTOR_MAILBOX_CAPACITY: "1", ACTOR_MAX_CONFLICT_RETRIES: "1" })
    )
  )
)

const OUTCOMES = ["ok", "rejected", "conflict", "overloaded", "failed", "conflict_retry"]

/** `focusforge_actor_commands_total{kind="counter"}` by outcome, from Prometheus text. */
const outcomes = (text: string): Record<string, number> => {
  const found: Record<string, number> = {}
  for (const line of text.split("\n")) {
    const match = /^focusforge_actor_commands_total\{kind="counter",outcome="(\w+)"\} (\d+)$/.exec(line)
    if (match?.[1] !== undefined) found[match[1]] = Number(match[2])
  }
  return found
}

const scrape = Effect.gen(function* () {
  yield* (yield* Instrumentation).sample
  const metrics = yield* Metrics
  return outcomes(yield* Effect.promise(() => metrics.registry.metrics()))
})

describe("actor command outcomes", () => {
  it.layer(TestLayer)("focusforge_actor_commands_total", (it) => {
    it.effect("every outcome series exists at 0, then each outcome is counted once per command", () =>
      Effect.gen(function* () {
        const counters = yield* (yield* ActorSystem).register(counterDecider)
        const before = yield* scrape
        expect(Object.keys(before).sort()).toEqual([...OUTCOMES].sort())
        expect(Object.values(before).every((value) => value === 0)).toBe(true)

        yield* counters.send("ok", { _tag: "Increment" })
        yield* counters.send("ok", { _tag: "Noop" })
        yield* counters.read("ok")
        yield* Effect.flip(counters.send("below-zero", { _tag: "Decrement" }))
        yield* Effect.exit(counters.send("bug", { _tag: "Explode" }))
        const lost = yield* Effect.flip(counters.send("contested", { _tag: "Increment" }))
        expect(lost._tag).toBe("VersionConflict")
        const burst = yield* Effect.all(
          Array.from({ length: 20 }, () => Effect.exit(counters.send("busy", { _tag: "Increment" }))),
          { concurrency: "unbounded" }
        )
        const refused = burst.filter((exit) => exit._tag === "Failure").length
        expect(refused).toBeGreaterThan(0)

        const after = yield* scrape
        // Reads are not commands; every burst command is either ok or overloaded.
        expect(after).toEqual({
          ok: 2 + (20 - refused),
          rejected: 1,
          conflict: 1,
          overloaded: refused,
          failed: 1,
          conflict_retry: 1
        })
      })
    )
  })
})
