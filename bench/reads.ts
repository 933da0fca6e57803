/**
 * What one actor message costs, and how much of it is the store's tail read, in one process: the
 * CPU per operation of a stream-tail read as a bare node:sqlite SELECT, through the SQLite store's
 * `read` (an Effect `Stream`), through `catchUp` (what an actor does before answering a read), and of
 * `EntityRuntime.read` / `send` on warm actors. Every authenticated request is one `read` of the
 * account's actor; every command is one `send` (a completion two). Explains the auth and command rows
 * of bench/commands.ts's CPU table.
 *
 *   npx tsx bench/reads.ts          BENCH_READS_OPS (default 5000), BENCH_READS_ROUNDS (default 3)
 */
import { Effect, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { DatabaseSync } from "node:sqlite"
import { makeEntityRuntime } from "../src/eventsourcing/EntityRuntime.ts"
import { catchUp } from "../src/eventsourcing/Hydrate.ts"
import { counterDecider } from "../test/support/counter.ts"
import { fmt, loadAverage, machine, median, writeSection } from "./support/harness.ts"

const OPS = Number(process.env.BENCH_READS_OPS ?? 5000)
const ROUNDS = Number(process.env.BENCH_READS_ROUNDS ?? 3)
const STREAMS = 100

const freshFile = () => join(mkdtempSync(join(tmpdir(), "focusforge-bench-")), "focusforge.db")

/** CPU µs per operation of `ops` runs of `self` (user + system time of this process). */
const cpuPerOp =
  (ops: number) =>
  <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<number, E, R> =>
    Effect.suspend(() => {
      const before = process.cpuUsage()
      return Effect.map(self, () => {
        const used = process.cpuUsage(before)
        return (used.user + used.system) / ops
      })
    })

/** The floor: the store's own SELECT (same table, index and query) on a bare node:sqlite handle. */
const bareSelect = (): number => {
  const db = new DatabaseSync(freshFile())
  db.exec("PRAGMA journal_mode = WAL")
  db.exec("PRAGMA synchronous = NORMAL")
  db.exec(
    "CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, version INTEGER NOT NULL, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL, UNIQUE (stream_id, version))"
  )
  const insert = db.prepare(
    "INSERT INTO events (stream_id, version, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)"
  )
  for (let s = 0; s < STREAMS; s++) {
    insert.run(`counter-s${s}`, 1, randomUUID(), "Incremented", '{"_tag":"Incremented","by":1}', "{}")
  }
  const select = db.prepare(
    "SELECT position, stream_id, version, event_id, type, data, metadata FROM events WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?"
  )
  const before = process.cpuUsage()
  for (let i = 0; i < OPS; i++) select.all(`counter-s${i % STREAMS}`, 2, 500)
  const used = process.cpuUsage(before)
  db.close()
  return (used.user + used.system) / OPS
}

const rows = [
  "bare node:sqlite SELECT of a stream's tail (no new events)",
  "EventStore.read of the same tail (Stream), collected",
  "catchUp on it (`EventStore.readPage` + a fold: an actor's refresh)",
  "EntityRuntime.read, warm idle actor (the reader folds the tail itself), 1 in flight",
  "EntityRuntime.read, warm actors, 50 in flight over 100 entities",
  "EntityRuntime.send (one event appended), warm actors, 1 in flight",
  "EntityRuntime.send (one event appended), warm actors, 50 in flight over 100 entities"
] as const

const measureStore = Effect.gen(function* () {
  const store = yield* EventStore
  const runtime = yield* makeEntityRuntime(counterDecider)
  // Warm actors with one event each; sends go to other entities, whose state stays small.
  for (let s = 0; s < STREAMS; s++) yield* runtime.send(`s${s}`, { _tag: "Increment", by: 1 })
  const each = (f: (i: number) => Effect.Effect<unknown, unknown>, concurrency = 1) =>
    Effect.forEach(
      Array.from({ length: OPS }, (_, i) => i),
      f,
      { discard: true, concurrency }
    )
  const results: Array<Array<number>> = rows.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    results[0]!.push(bareSelect())
    results[1]!.push(
      yield* cpuPerOp(OPS)(
        each((i) => Stream.runCollect(store.read(`counter-s${i % STREAMS}`, { fromVersion: 2 })))
      )
    )
    results[2]!.push(
      yield* cpuPerOp(OPS)(
        each((i) =>
          catchUp(store, counterDecider, `counter-s${i % STREAMS}`, {
            state: { count: 1, history: [1] },
            version: 1
          })
        )
      )
    )
    results[3]!.push(yield* cpuPerOp(OPS)(each((i) => runtime.read(`s${i % STREAMS}`))))
    results[4]!.push(yield* cpuPerOp(OPS)(each((i) => runtime.read(`s${i % STREAMS}`), 50)))
    results[5]!.push(
      yield* cpuPerOp(OPS)(
        each((i) => runtime.send(`w${round}-${i % STREAMS}`, { _tag: "Increment", by: 1 }))
      )
    )
    results[6]!.push(
      yield* cpuPerOp(OPS)(
        each((i) => runtime.send(`c${round}-${i % STREAMS}`, { _tag: "Increment", by: 1 }), 50)
      )
    )
  }
  return results.map(median)
}).pipe(Effect.scoped, Effect.provide(layerSqlite({ filename: freshFile() })))

const main = Effect.gen(function* () {
  const loadBefore = loadAverage()
  const medians = yield* measureStore
  const floor = medians[0]!
  const table = rows
    .map((label, i) => `| ${label} | ${fmt(medians[i]!, 1)} | ${fmt(medians[i]! / floor, 0)}× |`)
    .join("\n")
  const section = `## Actor reads and sends, and the store's tail read (\`bench/reads.ts\`)

\`npx tsx bench/reads.ts\` (or \`npm run bench -- reads\`). One process, tsx, a fresh SQLite file (WAL,
\`synchronous = NORMAL\`), ${STREAMS} streams of the test counter aggregate with one event each; ${fmt(OPS)} operations per
row, CPU time (user + system) per operation, median of ${ROUNDS} rounds. A stream-tail read with nothing new is
what every actor \`read\` does before answering (so every authenticated request pays one, on the account's
actor); an actor \`send\` decides, encodes and appends one event (a command pays one, a block completion two).

| operation | µs CPU per op | × the bare SELECT |
|---|---:|---:|
${table}

Reading: the SQL is cheap; the \`Stream\` around it (\`Stream.paginateChunkEffect\` → \`mapEffect\` →
\`runFold\`, run by the channel executor) costs tens of times the query for a tail that is almost always
empty. So actors catch up with \`EventStore.readPage\` (one page, a plain effect; the \`catchUp\` row), and
a read of an idle, loaded actor does that fold in the reader's own fiber (the first \`EntityRuntime.read\`
row); a busy actor's read queues behind its commands (mailbox \`Queue\`, \`Deferred\`, two fiber hand-offs).
A send is that hand-off plus deciding, encoding the event and the append, which commits with the other
appends of the same event-loop turn (group commit).

Machine: ${machine()}; load average ${loadBefore} before and ${loadAverage()} after (shared with other
jobs). ${new Date().toISOString()}.`
  writeSection("reads", section)
  console.log(section)
})

Effect.runPromise(main)
