import { describe, expect, it } from "@effect/vitest"
import { Effect, References, Tracer } from "effect"
import { randomUUID } from "node:crypto"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { makeEntityRuntime } from "../src/eventsourcing/EntityRuntime.ts"
import { counterDecider } from "./support/counter.ts"

const external = (by: number) => ({
  eventId: randomUUID(),
  type: "Incremented",
  data: { _tag: "Incremented", by },
  metadata: { timestamp: new Date(0).toISOString() }
})

describe("EntityRuntime.read", () => {
  it.layer(EventStoreSqliteMemory)("on an in-memory store", (it) => {
    it.effect("an entity without events reads as the initial state at version 0", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const view = yield* runtime.read("empty")
        expect(view).toEqual({ state: counterDecider.initialState, version: 0 })
      })
    )

    it.effect("a warm actor's read sees events another writer appended behind its back", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const runtime = yield* makeEntityRuntime(counterDecider)
        yield* runtime.send("shared", { _tag: "Increment", by: 2 })
        // Another process's write: the actor's warm state does not know about it.
        yield* store.append("counter-shared", 1, [external(5)])
        const view = yield* runtime.read("shared")
        expect(view.state.count).toBe(7)
        expect(view.version).toBe(2)
        // The next command is decided on the caught-up state, not a stale one.
        const next = yield* runtime.send("shared", { _tag: "Increment", by: 1 })
        expect(next.state.count).toBe(8)
        expect(next.version).toBe(3)
      })
    )

    it.effect("an id read empty is read again without a snapshot lookup, and still sees later writes", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        let snapshotLookups = 0
        const counting = {
          ...store,
          loadSnapshot: (streamId: string) =>
            Effect.suspend(() => {
              snapshotLookups++
              return store.loadSnapshot(streamId)
            })
        }
        const runtime = yield* makeEntityRuntime(counterDecider).pipe(
          Effect.provideService(EventStore, counting)
        )
        expect((yield* runtime.read("later")).version).toBe(0)
        expect((yield* runtime.read("later")).version).toBe(0)
        expect(snapshotLookups).toBe(1)
        // Another process writes (and snapshots): the next read still folds every event from version 1.
        yield* store.append("counter-later", "noStream", [external(2), external(3)])
        yield* store.saveSnapshot({
          streamId: "counter-later",
          version: 1,
          state: { count: 2, history: [2] }
        })
        const view = yield* runtime.read("later")
        expect(view.state.count).toBe(5)
        expect(view.version).toBe(2)
      })
    )

    it.effect("a read queued behind commands answers after them", () =>
      Effect.gen(function* () {
        const runtime = yield* makeEntityRuntime(counterDecider)
        const [, , view] = yield* Effect.all(
          [
            runtime.send("ordered", { _tag: "Increment", by: 1 }),
            runtime.send("ordered", { _tag: "Increment", by: 1 }),
            runtime.read("ordered")
          ],
          { concurrency: "unbounded" }
        )
        expect(view.state.count).toBe(2)
      })
    )
  })
})

describe("actor fibers", () => {
  it.layer(EventStoreSqliteMemory)("on an in-memory store", (it) => {
    it.effect("trace as their sender does, whichever request started them", () =>
      Effect.gen(function* () {
        const spans: Array<string> = []
        const base = yield* Effect.tracer
        const recording = Tracer.make({
          span: (options) => {
            spans.push(options.name)
            return base.span(options)
          },
          ...(base.context === undefined ? {} : { context: base.context })
        })
        yield* Effect.gen(function* () {
          const runtime = yield* makeEntityRuntime(counterDecider)
          // An unsampled request (the edge turned its tracer off) starts the actor: no span at all.
          yield* runtime
            .send("inherit", { _tag: "Increment" })
            .pipe(Effect.withSpan("unsampled"), Effect.provideService(References.TracerEnabled, false))
          expect(spans).toEqual([])
          // A later, sampled request: the actor's span is recorded, under the request's.
          yield* runtime.send("inherit", { _tag: "Increment" }).pipe(Effect.withSpan("sampled"))
          expect(spans).toEqual(
            ["sampled", "Actor.counter.command", "EventStore.append"].slice(0, spans.length)
          )
          expect(spans).toContain("Actor.counter.command")
        }).pipe(Effect.withTracer(recording))
      })
    )
  })
})
