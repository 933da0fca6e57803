import { expect, layer } from "@effect/vitest"
import { Effect, type Layer, Option, Result, Schema, Stream } from "effect"
import * as fc from "fast-check"
import { randomUUID } from "node:crypto"
import {
  EventStore,
  EventStoreError,
  type NewEvent,
  type StoredEvent,
  VersionConflict
} from "../../src/eventsourcing/EventStore.ts"
import { hydrate } from "../../src/eventsourcing/Hydrate.ts"
import { type CounterEvent, CounterState, counterDecider } from "../support/counter.ts"

const metadata = { correlationId: "corr-1", causationId: "cause-1", timestamp: "2025-01-01T00:00:00.000Z" }

const incremented = (by = 1, eventId: string = randomUUID()): NewEvent => ({
  eventId,
  type: "Incremented",
  data: { _tag: "Incremented", by } satisfies CounterEvent,
  metadata
})

const batchOf = (size: number, by = 1): Array<NewEvent> => Array.from({ length: size }, () => incremented(by))

/** Every test writes its own streams, so the suite can share one store (and a real database). */
const uniqueStream = (label: string) => `counter-${label}-${randomUUID()}`

const readStream = (streamId: string, fromVersion?: number) =>
  Effect.flatMap(EventStore, (store) =>
    Stream.runCollect(store.read(streamId, fromVersion === undefined ? {} : { fromVersion }))
  )

const lastPosition = Effect.flatMap(EventStore, (store) =>
  Stream.runFold(
    store.readAll(),
    () => 0,
    (_, event) => event.position
  )
)

const replayAll = (events: ReadonlyArray<StoredEvent>) =>
  events.reduce(
    (state, event) =>
      counterDecider.evolve(state, Schema.decodeUnknownSync(counterDecider.event)(event.data)),
    counterDecider.initialState
  )

/**
 * What every EventStore implementation must guarantee. `name` labels the run; `store` provides a
 * fresh or shared EventStore (tests never depend on what other tests wrote).
 */
export const eventStoreSuite = (name: string, store: Layer.Layer<EventStore, unknown>) =>
  layer(store, { timeout: "120 seconds" })(`EventStore conformance: ${name}`, (it) => {
    it.effect("appends with versions 1..n, increasing positions and the metadata it was given", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("basic")
        const first = yield* store.append(streamId, "noStream", batchOf(2))
        const second = yield* store.append(streamId, 2, batchOf(1, 5))
        const third = yield* store.append(streamId, "any", batchOf(1))
        expect([first.version, second.version, third.version]).toEqual([2, 3, 4])
        const events = yield* readStream(streamId)
        expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4])
        expect(events.map((e) => e.streamId)).toEqual([streamId, streamId, streamId, streamId])
        const positions = events.map((e) => e.position)
        expect([...positions].sort((a, b) => a - b)).toEqual(positions)
        expect(new Set(positions).size).toBe(4)
        expect(events[2]?.data).toEqual({ _tag: "Incremented", by: 5 })
        expect(events[0]?.metadata).toEqual(metadata)
        expect(events.map((e) => e.eventId)).toEqual(
          [...first.events, ...second.events, ...third.events].map((e) => e.eventId)
        )
        expect(yield* readStream(streamId, 3)).toEqual(events.slice(2))
        expect(yield* readStream(uniqueStream("empty"))).toEqual([])
      })
    )

    it.effect("a wrong expected version fails with a typed VersionConflict carrying the actual version", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("conflict")
        yield* store.append(streamId, "noStream", batchOf(3))
        const cases = [
          [store.append(streamId, "noStream", batchOf(1)), "noStream", 3],
          [store.append(streamId, 2, batchOf(1)), 2, 3],
          [store.append(streamId, 7, batchOf(1)), 7, 3],
          [store.append(uniqueStream("fresh"), 1, batchOf(1)), 1, 0]
        ] as const
        for (const [append, expected, actual] of cases) {
          const failure = yield* Effect.flip(append)
          expect(failure).toBeInstanceOf(VersionConflict)
          expect(failure).toMatchObject({ _tag: "VersionConflict", expected, actual })
        }
        expect((yield* readStream(streamId)).length).toBe(3)
      })
    )

    it.effect(
      "K=50 concurrent appends at one expected version: one wins, 49 conflict, no gap or duplicate",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore
          for (const [label, expected] of [
            ["new", "noStream"],
            ["existing", 3]
          ] as const) {
            const streamId = uniqueStream(`race-${label}`)
            if (expected !== "noStream") yield* store.append(streamId, "noStream", batchOf(3))
            const results = yield* Effect.forEach(
              Array.from({ length: 50 }, () => batchOf(2)),
              (batch) => Effect.result(store.append(streamId, expected, batch)),
              { concurrency: "unbounded" }
            )
            const winners = results.filter(Result.isSuccess)
            const losers = results.filter(Result.isFailure).map((r) => r.failure)
            expect(winners.length).toBe(1)
            expect(losers.length).toBe(49)
            for (const loser of losers) expect(loser).toBeInstanceOf(VersionConflict)
            const base = expected === "noStream" ? 0 : expected
            const events = yield* readStream(streamId)
            expect(events.map((e) => e.version)).toEqual(Array.from({ length: base + 2 }, (_, i) => i + 1))
            expect(events.slice(base).map((e) => e.eventId)).toEqual(
              winners[0]!.success.events.map((e) => e.eventId)
            )
          }
        })
    )

    it.effect("re-sending a batch with the same event ids writes nothing and returns the stored result", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("idempotent")
        const batch = batchOf(3)
        const first = yield* store.append(streamId, "noStream", batch)
        expect(first.duplicate).toBe(false)
        const retried = yield* store.append(streamId, "noStream", batch)
        expect(retried.duplicate).toBe(true)
        expect(retried.events).toEqual(first.events)
        expect(retried.version).toBe(3)
        const retriedAny = yield* store.append(streamId, "any", batch)
        expect(retriedAny.events.map((e) => e.position)).toEqual(first.events.map((e) => e.position))
        // The stream moved on: a late retry of the first batch still reports what was stored.
        yield* store.append(streamId, 3, batchOf(1))
        const late = yield* store.append(streamId, "noStream", batch)
        expect(late.events.map((e) => e.version)).toEqual([1, 2, 3])
        expect(late.version).toBe(4)
        expect((yield* readStream(streamId)).length).toBe(4)
        // Reusing a stored id for a different batch is refused, not silently accepted.
        const reused = yield* Effect.flip(store.append(streamId, 4, [batch[1]!, incremented()]))
        expect(reused).toBeInstanceOf(EventStoreError)
        const elsewhere = yield* Effect.flip(store.append(uniqueStream("other"), "noStream", [batch[0]!]))
        expect(elsewhere).toBeInstanceOf(EventStoreError)
        expect((yield* readStream(streamId)).length).toBe(4)
      })
    )

    it.effect("a batch is atomic: a conflicting or invalid batch writes none of its events", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("atomic")
        yield* store.append(streamId, "noStream", batchOf(2))
        const before = yield* lastPosition
        const conflict = yield* Effect.flip(store.append(streamId, 1, batchOf(5)))
        expect(conflict).toBeInstanceOf(VersionConflict)
        // The third event reuses an id stored in this stream: the first two must not land either.
        const stored = (yield* readStream(streamId))[0]!
        const invalid = yield* Effect.flip(
          store.append(streamId, 2, [incremented(), incremented(), incremented(1, stored.eventId)])
        )
        expect(invalid).toBeInstanceOf(EventStoreError)
        const duplicateInBatch = randomUUID()
        yield* Effect.flip(
          store.append(streamId, 2, [incremented(1, duplicateInBatch), incremented(1, duplicateInBatch)])
        )
        expect((yield* readStream(streamId)).map((e) => e.version)).toEqual([1, 2])
        const after = yield* Stream.runCollect(
          Stream.filter(
            (yield* EventStore).readAll({ fromPosition: before + 1 }),
            (e) => e.streamId === streamId
          )
        )
        expect(after.length).toBe(0)
      })
    )

    it.effect(
      "concurrent appends are answered each on its own: a failing one takes none of the others down",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore
          const prefix = uniqueStream("group")
          const taken = yield* store.append(`${prefix}-taken`, "noStream", batchOf(1))
          const takenId = taken.events[0]!.eventId
          const duplicateInBatch = randomUUID()
          // Issued together, so a store that commits appends in groups gets them in one group.
          const [fine, conflict, reusedId, duplicate, alsoFine] = yield* Effect.all(
            [
              Effect.result(store.append(`${prefix}-a`, "noStream", batchOf(2))),
              Effect.result(store.append(`${prefix}-taken`, "noStream", batchOf(1))),
              Effect.result(
                store.append(`${prefix}-b`, "noStream", [incremented(), incremented(1, takenId)])
              ),
              Effect.result(
                store.append(`${prefix}-c`, "noStream", [
                  incremented(1, duplicateInBatch),
                  incremented(1, duplicateInBatch)
                ])
              ),
              Effect.result(store.append(`${prefix}-d`, "noStream", batchOf(3)))
            ],
            { concurrency: "unbounded" }
          )
          expect(Result.isSuccess(fine) && fine.success.version).toBe(2)
          expect(Result.isFailure(conflict) && conflict.failure).toBeInstanceOf(VersionConflict)
          expect(Result.isFailure(reusedId) && reusedId.failure).toBeInstanceOf(EventStoreError)
          expect(Result.isFailure(duplicate) && duplicate.failure).toBeInstanceOf(EventStoreError)
          expect(Result.isSuccess(alsoFine) && alsoFine.success.version).toBe(3)
          // The failed ones wrote nothing, not even their first events.
          expect((yield* readStream(`${prefix}-b`)).length).toBe(0)
          expect((yield* readStream(`${prefix}-c`)).length).toBe(0)
          expect((yield* readStream(`${prefix}-taken`)).length).toBe(1)
          expect((yield* readStream(`${prefix}-a`)).map((e) => e.version)).toEqual([1, 2])
          expect((yield* readStream(`${prefix}-d`)).map((e) => e.version)).toEqual([1, 2, 3])
        })
    )

    it.effect("readAll after concurrent writers returns every event once, in global order, and resumes", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const prefix = uniqueStream("all")
        const checkpoint = yield* lastPosition
        const streams = Array.from({ length: 20 }, (_, i) => `${prefix}-${i}`)
        // 20 streams x 10 writers x batches of 1..3 events, all at once.
        const written = yield* Effect.forEach(
          streams.flatMap((streamId) =>
            Array.from({ length: 10 }, (_, w) => ({ streamId, size: (w % 3) + 1 }))
          ),
          ({ streamId, size }) => store.append(streamId, "any", batchOf(size)),
          { concurrency: "unbounded" }
        )
        const writtenIds = written.flatMap((r) => r.events.map((e) => e.eventId))
        const all = yield* Stream.runCollect(
          Stream.filter(store.readAll({ fromPosition: checkpoint + 1 }), (e) => e.streamId.startsWith(prefix))
        )
        expect(all.length).toBe(writtenIds.length)
        expect(new Set(all.map((e) => e.eventId))).toEqual(new Set(writtenIds))
        for (let i = 1; i < all.length; i++) expect(all[i]!.position).toBeGreaterThan(all[i - 1]!.position)
        for (const streamId of streams) {
          const versions = all.filter((e) => e.streamId === streamId).map((e) => e.version)
          expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1))
        }
        // A consumer that stopped halfway resumes right after its checkpoint.
        const middle = all[Math.floor(all.length / 2)]!
        const resumed = yield* Stream.runCollect(
          Stream.filter(store.readAll({ fromPosition: middle.position + 1 }), (e) =>
            e.streamId.startsWith(prefix)
          )
        )
        expect(resumed).toEqual(all.slice(Math.floor(all.length / 2) + 1))
      })
    )

    it.effect("readAll of some stream prefixes answers exactly their events, in order, across pages", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const tag = randomUUID().slice(0, 8)
        const checkpoint = yield* store.head
        // A prefix with regex and SQL metacharacters, one that is the start of another, and noise.
        const wanted = [`pfx.${tag}'(a)-`, `pfx.${tag}-b-`]
        const streams = [...wanted.map((p) => `${p}1`), `pfx.${tag}-bb-1`, `pfxX${tag}-b-1`, `other-${tag}`]
        for (let round = 0; round < 3; round++) {
          for (const streamId of streams) yield* store.append(streamId, "any", batchOf(round === 1 ? 700 : 2))
        }
        const selected = yield* Stream.runCollect(
          store.readAll({ fromPosition: checkpoint + 1, streamPrefixes: wanted })
        )
        const all = yield* Stream.runCollect(store.readAll({ fromPosition: checkpoint + 1 }))
        const expected = all.filter((e) => wanted.some((p) => e.streamId.startsWith(p)))
        expect(selected.map((e) => e.eventId)).toEqual(expected.map((e) => e.eventId))
        expect(new Set(selected.map((e) => e.streamId))).toEqual(new Set(wanted.map((p) => `${p}1`)))
        expect(selected.length).toBe(2 * (2 + 700 + 2))
        expect(
          yield* Stream.runCollect(store.readAll({ fromPosition: checkpoint + 1, streamPrefixes: [] }))
        ).toEqual([])
        expect(yield* store.head).toBe(all[all.length - 1]?.position)
      })
    )

    it.effect("readPage answers one page of the tail in version order, empty past the end", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("page")
        yield* store.append(streamId, "noStream", batchOf(5))
        const tail = yield* store.readPage(streamId, 3)
        expect(tail.map((e) => e.version)).toEqual([3, 4, 5])
        expect(tail).toEqual((yield* readStream(streamId)).slice(2))
        expect(yield* store.readPage(streamId, 6)).toEqual([])
        expect(yield* store.readPage(uniqueStream("none"), 1)).toEqual([])
        expect((yield* store.readPage(streamId, 0)).map((e) => e.version)).toEqual([1, 2, 3, 4, 5])
      })
    )

    it.effect("reads page by page across page boundaries", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("pages")
        yield* store.append(streamId, "noStream", batchOf(2500))
        const events = yield* readStream(streamId)
        expect(events.map((e) => e.version)).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1))
        expect((yield* readStream(streamId, 1001)).length).toBe(1500)
      })
    )

    it.effect("keeps the latest snapshot of a stream", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("snap")
        expect(yield* store.loadSnapshot(streamId)).toEqual(Option.none())
        yield* store.saveSnapshot({ streamId, version: 10, state: { count: 10, history: [] } })
        yield* store.saveSnapshot({ streamId, version: 20, state: { count: 20, history: [19, 20] } })
        yield* store.saveSnapshot({ streamId, version: 15, state: { count: 15, history: [] } })
        expect(yield* store.loadSnapshot(streamId)).toEqual(
          Option.some({ streamId, version: 20, state: { count: 20, history: [19, 20] } })
        )
      })
    )

    it.effect("racing first snapshots of a stream keep the highest version, whichever lands first", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        for (let round = 0; round < 20; round++) {
          const streamId = uniqueStream("snap-race")
          // Rotated so the highest is sometimes the first writer and sometimes a later one.
          const versions = [3, 9, 5, 7].map((_, i, all) => all[(i + round) % all.length] ?? 0)
          yield* Effect.all(
            versions.map((version) =>
              store.saveSnapshot({ streamId, version, state: { count: version, history: [] } })
            ),
            { concurrency: "unbounded" }
          )
          expect(yield* store.loadSnapshot(streamId)).toEqual(
            Option.some({ streamId, version: 9, state: { count: 9, history: [] } })
          )
        }
      })
    )

    it.effect("snapshot + tail equals full replay (property)", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(fc.integer({ min: -5, max: 20 }), { minLength: 1, maxLength: 60 }),
              fc.nat(),
              fc.integer({ min: 1, max: 7 }),
              (amounts, cut, batchSize) =>
                Effect.runPromise(
                  Effect.gen(function* () {
                    const streamId = uniqueStream("prop")
                    let version = 0
                    for (let i = 0; i < amounts.length; i += batchSize) {
                      const chunk = amounts.slice(i, i + batchSize).map((by) => incremented(by))
                      version = (yield* store.append(streamId, version === 0 ? "noStream" : version, chunk))
                        .version
                    }
                    const events = yield* Stream.runCollect(store.read(streamId))
                    const full = replayAll(events)
                    const snapshotAt = cut % (events.length + 1)
                    const snapshotState = replayAll(events.slice(0, snapshotAt))
                    yield* store.saveSnapshot({
                      streamId,
                      version: snapshotAt,
                      state: Schema.encodeSync(CounterState)(snapshotState)
                    })
                    const loaded = yield* hydrate(store, counterDecider, streamId)
                    expect(loaded.state).toEqual(full)
                    expect(loaded.version).toBe(events.length)
                    expect(loaded.eventsRead).toBe(events.length - snapshotAt)
                  })
                )
            ),
            { numRuns: 40 }
          )
        )
      })
    )

    it.effect("a 100k-event stream loads via its snapshot, reading at most one snapshot interval", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const streamId = uniqueStream("long")
        const interval = 1000
        const total = 100_000 + 437
        let state = counterDecider.initialState
        for (let version = 0; version < total; ) {
          const size = Math.min(interval, total - version)
          yield* store.append(streamId, version === 0 ? "noStream" : version, batchOf(size))
          for (let i = 0; i < size; i++) state = counterDecider.evolve(state, { _tag: "Incremented", by: 1 })
          version += size
          if (version % interval === 0) {
            yield* store.saveSnapshot({ streamId, version, state: Schema.encodeSync(CounterState)(state) })
          }
        }
        const loaded = yield* hydrate(store, counterDecider, streamId)
        expect(loaded.version).toBe(total)
        expect(loaded.state).toEqual(state)
        expect(loaded.state.count).toBe(total)
        expect(loaded.eventsRead).toBe(437)
        expect(loaded.eventsRead).toBeLessThanOrEqual(interval)
      })
    )
  })
