import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Fiber, Layer, Result } from "effect"
import { randomUUID } from "node:crypto"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { makeEntityRuntime } from "../src/eventsourcing/EntityRuntime.ts"
import { streamIdOf } from "../src/eventsourcing/Hydrate.ts"
import { BelowZero, counterDecider, external, readStream, waitFor } from "./support/counter.ts"
import { makeGate } from "./support/gatedStore.ts"

/**
 * Issue 16, "bounded memory": an id without events costs no live actor, and the live actors of a
 * process stay under a ceiling, least recently used idle ones passivated first, busy ones never.
 */

describe("no actor for a stream that does not exist", () => {
  it.layer(EventStoreSqliteMemory)("on an in-memory store", (it) => {
    it.effect("5,000 reads of unknown ids answer the initial state and leave no live actor", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const views = yield* Effect.forEach(
          Array.from({ length: 5000 }, () => randomUUID()),
          (id) => runtime.read(id),
          { concurrency: 50 }
        )
        expect(views.every((view) => view.version === 0 && view.state.count === 0)).toBe(true)
        expect((yield* runtime.stats).liveActors).toBe(0)
      })
    )

    it.effect("a refused command for an unknown id stops its actor at once, counted as `empty`", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const refused = yield* Effect.forEach(
          Array.from({ length: 300 }, () => randomUUID()),
          (id) => Effect.flip(runtime.send(id, { _tag: "Decrement" })),
          { concurrency: 20 }
        )
        expect(refused.every((error) => error instanceof BelowZero)).toBe(true)
        // A command that changes nothing on an empty stream is no reason to stay either.
        yield* runtime.send("noop", { _tag: "Noop" })
        expect((yield* runtime.stats).liveActors).toBe(0)
        expect(yield* runtime.passivations).toEqual({ idle: 0, evicted: 0, empty: 301 })
      })
    )

    it.effect("an entity that exists is kept warm by a read, and its next command is decided on it", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        yield* store.append("counter-existing", "noStream", [external(4)])
        const runtime = yield* makeEntityRuntime(counterDecider)
        const view = yield* runtime.read("existing")
        expect(view).toMatchObject({ version: 1, state: { count: 4 } })
        expect((yield* runtime.stats).liveActors).toBe(1)
        const next = yield* runtime.send("existing", { _tag: "Increment" })
        expect(next).toMatchObject({ version: 2, state: { count: 5 } })
        expect((yield* runtime.stats).conflictRetries).toBe(0)
      })
    )

    it.effect("refusals racing the first writes of a new entity never lose or duplicate a command", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        // Decrements at count 0 are refused (the actor may stop as `empty` between them); increments
        // create the stream. Every increment must land once, at consecutive versions.
        const commands = Array.from({ length: 400 }, (_, i) =>
          i % 2 === 0 ? ({ _tag: "Decrement" } as const) : ({ _tag: "Increment" } as const)
        )
        const results = yield* Effect.forEach(
          commands,
          (command) => Effect.result(runtime.send("race", command)),
          { concurrency: "unbounded" }
        )
        const succeeded = results.filter(Result.isSuccess).length
        const events = yield* readStream(streamIdOf(counterDecider, "race"))
        expect(events.map((e) => e.version)).toEqual(Array.from({ length: events.length }, (_, i) => i + 1))
        expect(events.length).toBe(succeeded)
        const final = yield* runtime.read("race")
        const increments = events.filter((e) => (e.data as { _tag: string })._tag === "Incremented").length
        expect(increments).toBe(200)
        expect(final.state.count).toBe(increments - (events.length - increments))
      })
    )
  })
})

describe("a ceiling on live actors", () => {
  it.layer(EventStoreSqliteMemory)("on an in-memory store", (it) => {
    it.effect("at the ceiling the least recently used idle actor is passivated; its state survives", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider, { maxLiveActors: 3 })
        for (const id of ["a", "b", "c"]) yield* runtime.send(id, { _tag: "Increment", by: 2 })
        // "a" is used again, so "b" is now the least recently used.
        yield* runtime.read("a")
        yield* runtime.send("d", { _tag: "Increment" })
        expect((yield* runtime.stats).liveActors).toBe(3)
        expect((yield* runtime.passivations).evicted).toBe(1)
        // "b" was the one evicted: "c" and "a" are still warm, so using them evicts nothing.
        yield* runtime.send("c", { _tag: "Noop" })
        yield* runtime.send("a", { _tag: "Noop" })
        expect((yield* runtime.passivations).evicted).toBe(1)
        // "b" comes back from the store with its state, evicting the least recently used ("d").
        const b = yield* runtime.send("b", { _tag: "Increment" })
        expect(b).toMatchObject({ version: 2, state: { count: 3 } })
        expect((yield* runtime.stats).liveActors).toBe(3)
        expect((yield* runtime.passivations).evicted).toBe(2)
        yield* runtime.send("a", { _tag: "Noop" })
        yield* runtime.send("c", { _tag: "Noop" })
        expect((yield* runtime.passivations).evicted).toBe(2)
      })
    )

    it.effect(
      "an actor with work in hand is never evicted; a newcomer finding no room stops after its work",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore
          for (const id of ["x", "y"]) yield* store.append(`counter-${id}`, "noStream", [external(1)])
          const gate = yield* makeGate
          const runtime = yield* makeEntityRuntime(counterDecider, { maxLiveActors: 2 }).pipe(
            Effect.provide(gate.layer)
          )
          // Reads warm "x" and "y": the ceiling is full. Then each of x, y, z gets a command held in append.
          for (const id of ["x", "y"]) yield* runtime.read(id)
          const inFlight = yield* Effect.forEach(["x", "y", "z"], (id) =>
            Effect.forkChild(runtime.send(id, { _tag: "Increment" }))
          )
          // Three live while all three have work in hand: nobody was evicted to make room for "z".
          yield* waitFor(runtime.stats, (s) => s.liveActors === 3)
          expect((yield* runtime.passivations).evicted).toBe(0)
          // A read needs no actor: it is answered from the store and warms nothing while all are busy.
          expect((yield* runtime.read("w")).version).toBe(0)
          expect((yield* runtime.stats).liveActors).toBe(3)
          yield* gate.open
          const results = yield* Effect.forEach(inFlight, Fiber.join)
          expect(results.map((r) => r.version)).toEqual([2, 2, 1])
          // Once settled, the ceiling holds again: one of the three made way (or found no room).
          expect((yield* runtime.stats).liveActors).toBe(2)
          expect((yield* runtime.passivations).evicted).toBe(1)
        })
    )

    it.effect("5,000 entities through a ceiling of 100 leave 100 live actors and every write", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider, { maxLiveActors: 100 })
        yield* Effect.forEach(
          Array.from({ length: 5000 }, (_, i) => `many-${i}`),
          (id) => runtime.send(id, { _tag: "Increment" }),
          { concurrency: 20, discard: true }
        )
        expect((yield* runtime.stats).liveActors).toBe(100)
        expect((yield* runtime.passivations).evicted).toBe(4900)
        expect((yield* runtime.read("many-0")).state.count).toBe(1)
      })
    )
  })

  it.layer(
    ActorSystem.layer.pipe(
      Layer.provideMerge(EventStoreSqliteMemory),
      Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ ACTORS_MAX: "4" })))
    )
  )("shared by every aggregate of the actor system (ACTORS_MAX)", (it) => {
    it.effect("one ceiling for all runtimes; evictions counted on the runtime that lost the actor", () =>
      Effect.gen(function* () {
        const system = yield* ActorSystem
        const first = yield* system.register(counterDecider)
        const second = yield* system.register({ ...counterDecider, type: "other" })
        for (const id of ["1", "2", "3"]) yield* first.send(id, { _tag: "Increment" })
        for (const id of ["1", "2"]) yield* second.send(id, { _tag: "Increment" })
        expect(yield* system.residency).toEqual({ live: 4, max: 4 })
        expect((yield* system.stats).map((s) => [s.type, s.liveActors])).toEqual([
          ["counter", 2],
          ["other", 2]
        ])
        expect(yield* system.passivations).toEqual([
          { type: "counter", idle: 0, evicted: 1, empty: 0 },
          { type: "other", idle: 0, evicted: 0, empty: 0 }
        ])
      })
    )
  })
})
