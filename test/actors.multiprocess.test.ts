import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { type ChildRun, runScript, tempDataDir } from "./support/server.ts"
import { DatabaseSync } from "node:sqlite"

type Child = ChildRun

const waitUntil = async (what: string, child: Child, done: () => boolean, timeoutMs = 60_000) => {
  const started = Date.now()
  while (!done()) {
    if (child.child.exitCode !== null) throw new Error(`child exited before ${what}:\n${child.output()}`)
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}:\n${child.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const readAllEvents = (filename: string) =>
  Effect.flatMap(EventStore, (store) => Stream.runCollect(store.readAll())).pipe(
    Effect.scoped,
    Effect.provide(layerSqlite({ filename }))
  )

describe("several OS processes on one SQLite file", () => {
  it.live(
    "two actor runtimes in two processes, 500 concurrent commands each to one entity: 1,000 events, none lost or doubled",
    () =>
      Effect.gen(function* () {
        const dir = tempDataDir()
        const filename = join(dir, "focusforge.db")
        const goFile = join(dir, "go")
        const children = [0, 1].map(() => runScript("test/support/actorWorker.ts", [filename, "500", goFile]))
        yield* Effect.promise(() =>
          Promise.all(children.map((c) => waitUntil("ready", c, () => c.output().includes("ready"))))
        )
        writeFileSync(goFile, "go")
        const codes = yield* Effect.promise(() => Promise.all(children.map((c) => c.exited)))
        expect(codes, children.map((c) => c.output()).join("\n")).toEqual([0, 0])
        for (const c of children) expect(c.output()).toContain('{"ok":500,"failures":[]}')
        const events = (yield* readAllEvents(filename)).filter((e) => e.streamId === "counter-shared")
        expect(events.map((e) => e.version)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1))
        expect(new Set(events.map((e) => e.eventId)).size).toBe(1000)
        expect(events.every((e) => e.type === "Incremented")).toBe(true)
        // The two writers really raced: their events interleave, so each had to lose and retry.
        const writers = events.map((e) => e.metadata.correlationId)
        expect(new Set(writers).size).toBe(2)
        const switches = writers.filter((w, i) => i > 0 && w !== writers[i - 1]).length
        expect(switches).toBeGreaterThan(1)
      }),
    120_000
  )

  it.live(
    "a process killed (SIGKILL) in the middle of a stream of appends leaves only whole batches",
    () =>
      Effect.gen(function* () {
        const filename = join(tempDataDir(), "focusforge.db")
        const batchSize = 250
        const writer = runScript("test/support/appendWorker.ts", [filename, String(batchSize)])
        const committed = () => {
          const all = [...writer.output().matchAll(/committed (\d+)/g)]
          return Number(all[all.length - 1]?.[1] ?? 0)
        }
        yield* Effect.promise(() => waitUntil("40 committed batches", writer, () => committed() >= 40))
        const seen = committed()
        writer.child.kill("SIGKILL")
        expect(yield* Effect.promise(() => writer.exited)).toBe("SIGKILL")

        const db = new DatabaseSync(filename)
        expect(db.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" })
        db.close()
        const events = yield* readAllEvents(filename)
        const batches = new Map<string, number>()
        for (const event of events) {
          const { batchId } = event.data as { batchId: string }
          batches.set(batchId, (batches.get(batchId) ?? 0) + 1)
        }
        expect(batches.size).toBeGreaterThanOrEqual(seen)
        for (const size of batches.values()) expect(size).toBe(batchSize)
        expect(events.length).toBe(batches.size * batchSize)
        for (let i = 1; i < events.length; i++)
          expect(events[i]!.position).toBeGreaterThan(events[i - 1]!.position)
      }),
    120_000
  )
})
