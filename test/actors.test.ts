import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Result } from "effect"
import { TestClock } from "effect/testing"
import { EventStore, VersionConflict } from "../src/eventsourcing/EventStore.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { makeEntityRuntime, Overloaded } from "../src/eventsourcing/EntityRuntime.ts"
import { streamIdOf } from "../src/eventsourcing/Hydrate.ts"
import { BelowZero, counterDecider, external, readStream, waitFor } from "./support/counter.ts"
import { makeGate } from "./support/gatedStore.ts"

describe("entity actor runtime", () => {
  it.layer(EventStoreSqliteMemory)("on an in-memory store", (it) => {
    it.effect("1,000 concurrent increments to one entity: state 1000, events at versions 1..1000", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const results = yield* Effect.forEach(
          Array.from({ length: 1000 }),
          () => runtime.send("hot", { _tag: "Increment" }),
          { concurrency: "unbounded" }
        )
        const events = yield* readStream(streamIdOf(counterDecider, "hot"))
        expect(events.map((e) => e.version)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
        expect(new Set(events.map((e) => e.eventId)).size).toBe(1000)
        expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(
          Array.from({ length: 1000 }, (_, i) => i + 1)
        )
        const last = yield* runtime.send("hot", { _tag: "Noop" })
        expect(last.state.count).toBe(1000)
        expect(last.version).toBe(1000)
      })
    )

    it.effect("a command's result carries the new state, version and the events it appended", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const result = yield* runtime.send("r", { _tag: "Increment", by: 3 }, { correlationId: "req-1" })
        expect(result.state.count).toBe(3)
        expect(result.version).toBe(1)
        expect(result.events).toEqual([{ _tag: "Incremented", by: 3 }])
        expect(result.stored).toHaveLength(1)
        expect(result.stored[0]).toMatchObject({
          streamId: "counter-r",
          version: 1,
          type: "Incremented",
          data: { _tag: "Incremented", by: 3 },
          metadata: { correlationId: "req-1" }
        })
      })
    )

    it.effect("a failing command (domain error or defect) leaves the actor and its state intact", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const refused = yield* Effect.flip(runtime.send("f", { _tag: "Decrement" }))
        expect(refused).toBeInstanceOf(BelowZero)
        yield* runtime.send("f", { _tag: "Increment" })
        const exploded = yield* Effect.exit(runtime.send("f", { _tag: "Explode" }))
        expect(exploded._tag).toBe("Failure")
        const after = yield* runtime.send("f", { _tag: "Increment" })
        expect(after.state.count).toBe(2)
        expect(after.version).toBe(2)
        expect((yield* runtime.stats).liveActors).toBe(1)
      })
    )

    it.effect(
      "a full mailbox rejects with a typed Overloaded carrying retryAfter; queued commands still run",
      () =>
        Effect.gen(function* () {
          const gate = yield* makeGate
          const runtime = yield* makeEntityRuntime(counterDecider, { mailboxCapacity: 2 }).pipe(
            Effect.provide(gate.layer)
          )
          // The first command is taken from the mailbox and waits in append; two more fill the mailbox.
          const inFlight = yield* Effect.forkChild(runtime.send("busy", { _tag: "Increment" }))
          yield* waitFor(runtime.stats, (s) => s.liveActors === 1 && s.mailboxDepth === 0)
          const queued = yield* Effect.forEach([1, 2], () =>
            Effect.forkChild(runtime.send("busy", { _tag: "Increment" }))
          )
          yield* waitFor(runtime.stats, (s) => s.mailboxDepth === 2)
          expect(yield* runtime.stats).toMatchObject({ type: "counter", liveActors: 1, mailboxDepth: 2 })
          const rejected = yield* Effect.flip(runtime.send("busy", { _tag: "Increment" }))
          expect(rejected).toBeInstanceOf(Overloaded)
          expect(rejected).toMatchObject({ entity: "counter-busy", retryAfterSeconds: 1 })
          yield* gate.open
          const versions = yield* Effect.forEach([inFlight, ...queued], Fiber.join)
          expect(versions.map((r) => r.version)).toEqual([1, 2, 3])
          expect((yield* runtime.stats).mailboxDepth).toBe(0)
        })
    )

    it.effect(
      "an idle actor is passivated after its TTL and rehydrated from the store on the next command",
      () =>
        Effect.gen(function* () {
          const runtime = yield* makeEntityRuntime(counterDecider, { idleTtl: "1 minute" })
          yield* runtime.send("idle", { _tag: "Increment", by: 5 })
          yield* TestClock.adjust("30 seconds")
          expect((yield* runtime.stats).liveActors).toBe(1)
          yield* TestClock.adjust("31 seconds")
          yield* Effect.yieldNow
          expect((yield* runtime.stats).liveActors).toBe(0)
          const next = yield* runtime.send("idle", { _tag: "Increment" })
          expect(next.state.count).toBe(6)
          expect(next.version).toBe(2)
          expect((yield* runtime.stats).liveActors).toBe(1)
        })
    )

    it.effect("on a VersionConflict the actor reloads the tail and decides the command again", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const runtime = yield* makeEntityRuntime(counterDecider)
        yield* runtime.send("shared", { _tag: "Increment" })
        // Another process writes behind this actor's back: its warm state is now stale.
        yield* store.append("counter-shared", 1, [external(10)])
        const result = yield* runtime.send("shared", { _tag: "Increment" })
        expect(result.state.count).toBe(12)
        expect(result.version).toBe(3)
        expect((yield* runtime.stats).conflictRetries).toBe(1)
        expect((yield* readStream("counter-shared")).map((e) => e.version)).toEqual([1, 2, 3])
      })
    )

    it.effect("retries are bounded: past the limit the conflict is the command's answer", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const runtime = yield* makeEntityRuntime(counterDecider, { maxConflictRetries: 0 })
        yield* runtime.send("bounded", { _tag: "Increment" })
        yield* store.append("counter-bounded", 1, [external(10)])
        const conflict = yield* Effect.flip(runtime.send("bounded", { _tag: "Increment" }))
        expect(conflict).toBeInstanceOf(VersionConflict)
        const next = yield* runtime.send("bounded", { _tag: "Increment" })
        expect(next.state.count).toBe(12)
      })
    )

    it.effect("saves a snapshot every N events, and a cold actor loads from it", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const runtime = yield* makeEntityRuntime(counterDecider, { snapshotEvery: 10 })
        for (let i = 0; i < 25; i++) yield* runtime.send("snap", { _tag: "Increment" })
        const snapshot = yield* store.loadSnapshot("counter-snap")
        expect(Option.map(snapshot, (s) => s.version)).toEqual(Option.some(20))
        // A second runtime stands for a restarted process.
        const cold = yield* makeEntityRuntime(counterDecider)
        const result = yield* cold.send("snap", { _tag: "Noop" })
        expect(result.state.count).toBe(25)
        expect(result.version).toBe(25)
      })
    )

    it.effect("different entities are independent actors", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const results = yield* Effect.forEach(
          Array.from({ length: 300 }, (_, i) => `e${i % 30}`),
          (id) => Effect.result(runtime.send(id, { _tag: "Increment" })),
          { concurrency: "unbounded" }
        )
        expect(results.every(Result.isSuccess)).toBe(true)
        expect((yield* runtime.stats).liveActors).toBe(30)
        const one = yield* runtime.send("e7", { _tag: "Noop" })
        expect(one.state.count).toBe(10)
      })
    )
  })

  it.layer(ActorSystem.layer.pipe(Layer.provideMerge(EventStoreSqliteMemory)))("the actor system", (it) => {
    it.effect("registers each aggregate once and reports stats per aggregate", () =>
      Effect.gen(function* () {
        const system = yield* ActorSystem
        const counters = yield* system.register(counterDecider)
        yield* counters.send("a", { _tag: "Increment" })
        yield* counters.send("b", { _tag: "Increment" })
        expect(yield* system.stats).toEqual([
          {
            type: "counter",
            liveActors: 2,
            mailboxDepth: 0,
            conflictRetries: 0,
            outcomes: { ok: 2, rejected: 0, conflict: 0, overloaded: 0, failed: 0 }
          }
        ])
        const again = yield* Effect.exit(system.register(counterDecider))
        expect(again._tag).toBe("Failure")
      })
    )
  })
})
