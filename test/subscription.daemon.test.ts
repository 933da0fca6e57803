import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { randomUUID } from "node:crypto"
import { makeSubscription } from "../src/eventsourcing/Subscription.ts"
import { runInBackground } from "../src/eventsourcing/SubscriptionDaemon.ts"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { Metrics } from "../src/layers/observability/Metrics.ts"

const TestLayer = Layer.mergeAll(EventStoreSqliteMemory, Metrics.layer, Health.layer).pipe(
  Layer.provideMerge(AppConfigTest())
)

const appendOne = Effect.flatMap(EventStore, (store) =>
  store.append(`thing-${randomUUID()}`, "noStream", [
    { eventId: randomUUID(), type: "Thing", data: {}, metadata: { timestamp: new Date().toISOString() } }
  ])
)

const componentOf = (name: string) =>
  Effect.map(
    Effect.flatMap(Health, (health) => health.report),
    (report) => report.components[name]
  )

describe("a subscription in the background", () => {
  it.layer(TestLayer)("on an in-memory store", (it) => {
    it.effect(
      "keeps the instance unready until its first catch-up reached the head, then reports its lag",
      () =>
        Effect.gen(function* () {
          yield* Effect.forEach([1, 2, 3], () => appendOne)
          const gate = yield* Deferred.make<void>()
          let pages = 0
          const subscription = yield* makeSubscription({
            name: `gated-${randomUUID().slice(0, 8)}`,
            version: 1,
            tables: [],
            handle: () =>
              Effect.andThen(Deferred.await(gate), () => {
                pages++
                return Effect.succeed([])
              })
          })
          yield* Effect.scoped(
            Effect.gen(function* () {
              yield* runInBackground(subscription, { interval: "20 millis" })
              const during = yield* componentOf(`subscription:${subscription.name}`)
              expect(during).toMatchObject({
                status: "unhealthy",
                critical: true,
                details: { lag_events: 3 }
              })
              expect((yield* Effect.flatMap(Health, (h) => h.report)).status).toBe("unhealthy")
              yield* Deferred.succeed(gate, undefined)
              for (let i = 0; i < 200; i++) {
                if ((yield* componentOf(`subscription:${subscription.name}`))?.status === "healthy") break
                yield* Effect.yieldNow
              }
              const after = yield* componentOf(`subscription:${subscription.name}`)
              expect(after).toMatchObject({ status: "healthy", details: { lag_events: 0 } })
              expect(pages).toBe(1)
              const metrics = yield* Metrics
              const text = yield* Effect.promise(() => metrics.registry.metrics())
              expect(text).toContain(
                `focusforge_subscription_lag_events{subscription="${subscription.name}"} 0`
              )
              expect(text).toContain(
                `focusforge_subscription_events_total{subscription="${subscription.name}"} 3`
              )
            })
          )
        })
    )

    it.effect("a run that fails is retried with a pause that doubles each time (1 s, 2 s, 4 s, 8 s …)", () =>
      Effect.gen(function* () {
        yield* appendOne
        let runs = 0
        const subscription = yield* makeSubscription({
          name: `failing-${randomUUID().slice(0, 8)}`,
          version: 1,
          tables: [],
          handle: () =>
            Effect.suspend(() => {
              runs++
              return Effect.fail(new Error("the read model's table is locked"))
            })
        })
        yield* Effect.scoped(
          Effect.gen(function* () {
            yield* runInBackground(subscription, { interval: "1 second" })
            yield* Effect.yieldNow
            expect(runs).toBe(1)
            // Failures in a row: pauses of 2 s, 4 s and 8 s, so runs at 0, 2, 6 and 14 s.
            yield* TestClock.adjust("13 seconds")
            expect(runs).toBe(3)
            yield* TestClock.adjust("1 second")
            expect(runs).toBe(4)
            const component = yield* componentOf(`subscription:${subscription.name}`)
            expect(component?.status).toBe("unhealthy")
          })
        )
      })
    )
  })

  it.layer(TestLayer)("on a long log", (it) => {
    it.effect("gives the event loop a turn between pages, so a first catch-up never holds the server", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        yield* store.append(
          `thing-${randomUUID()}`,
          "noStream",
          Array.from({ length: 2500 }, () => ({
            eventId: randomUUID(),
            type: "Thing",
            data: {},
            metadata: { timestamp: new Date().toISOString() }
          }))
        )
        let ioRan = false
        const seenByPage: Array<boolean> = []
        const subscription = yield* makeSubscription({
          name: `long-${randomUUID().slice(0, 8)}`,
          version: 1,
          tables: [],
          handle: () =>
            Effect.sync(() => {
              seenByPage.push(ioRan)
              return []
            })
        })
        // What a request arriving during the catch-up is: a callback of the next turn.
        setImmediate(() => {
          ioRan = true
        })
        const run = yield* subscription.run
        expect(run.folded).toBe(2500)
        expect(seenByPage).toEqual([false, true, true])
      })
    )
  })
})
