/**
 * Event store benchmark (not a test): append throughput and latency of the SQLite store on a real WAL
 * file, next to a bare node:sqlite insert on the same machine in the same run, plus single-event
 * commands through the actor runtime. Writes its section into BENCHMARKS.md.
 *
 *   npx tsx bench/eventstore.ts
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { EventStore, type NewEvent } from "../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { DatabaseSync } from "node:sqlite"
import { makeEntityRuntime } from "../src/eventsourcing/EntityRuntime.ts"
import { counterDecider } from "../test/support/counter.ts"

const APPENDS = 10_000
const COMMANDS = 10_000
const timestamp = new Date().toISOString()

interface Result {
  readonly name: string
  readonly ops: number
  readonly seconds: number
  readonly latencies: Array<number>
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0

const event = (): NewEvent => ({
  eventId: randomUUID(),
  type: "Incremented",
  data: { _tag: "Incremented", by: 1 },
  metadata: { correlationId: "bench", timestamp }
})

const freshFile = () => join(mkdtempSync(join(tmpdir(), "focusforge-bench-")), "focusforge.db")

/** The floor: one prepared INSERT per transaction, same pragmas, no version check or idempotency lookup. */
const rawInsert = (): Result => {
  const db = new DatabaseSync(freshFile())
  db.exec("PRAGMA journal_mode = WAL")
  db.exec("PRAGMA synchronous = NORMAL")
  db.exec(
    "CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT, version INTEGER, event_id TEXT UNIQUE, type TEXT, data TEXT, metadata TEXT, UNIQUE (stream_id, version))"
  )
  const insert = db.prepare(
    "INSERT INTO events (stream_id, version, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)"
  )
  const tx = (version: number, e: NewEvent) => {
    db.exec("BEGIN IMMEDIATE")
    insert.run("s", version, e.eventId, e.type, JSON.stringify(e.data), JSON.stringify(e.metadata))
    db.exec("COMMIT")
  }
  const latencies: Array<number> = []
  const start = performance.now()
  for (let i = 1; i <= APPENDS; i++) {
    const e = event()
    const t = performance.now()
    tx(i, e)
    latencies.push(performance.now() - t)
  }
  const seconds = (performance.now() - start) / 1000
  db.close()
  return { name: "bare node:sqlite INSERT (floor)", ops: APPENDS, seconds, latencies }
}

const storeAppends = (name: string, streams: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const versions = new Array<number>(streams).fill(0)
    const latencies: Array<number> = []
    const start = performance.now()
    for (let i = 0; i < APPENDS; i++) {
      const s = i % streams
      const t = performance.now()
      const result = yield* store.append(`bench-${s}`, versions[s] === 0 ? "noStream" : versions[s]!, [
        event()
      ])
      latencies.push(performance.now() - t)
      versions[s] = result.version
    }
    return { name, ops: APPENDS, seconds: (performance.now() - start) / 1000, latencies } satisfies Result
  }).pipe(Effect.scoped, Effect.provide(layerSqlite({ filename: freshFile() })))

const actorCommands = (name: string, entities: number, concurrency: number) =>
  Effect.gen(function* () {
    const runtime = yield* makeEntityRuntime(counterDecider)
    const latencies: Array<number> = []
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: COMMANDS }, (_, i) => `e${i % entities}`),
      (id) =>
        Effect.suspend(() => {
          const t = performance.now()
          return Effect.map(runtime.send(id, { _tag: "Increment" }), () => {
            latencies.push(performance.now() - t)
          })
        }),
      { concurrency, discard: true }
    )
    return { name, ops: COMMANDS, seconds: (performance.now() - start) / 1000, latencies } satisfies Result
  }).pipe(Effect.scoped, Effect.provide(layerSqlite({ filename: freshFile() })))

const main = Effect.gen(function* () {
  const results: Array<Result> = [rawInsert()]
  results.push(yield* storeAppends("EventStore.append, 1 stream, 1 event", 1))
  results.push(yield* storeAppends("EventStore.append, 1,000 streams, 1 event", 1000))
  results.push(yield* actorCommands("actor command, 1 entity, 64 in flight", 1, 64))
  results.push(yield* actorCommands("actor command, 1,000 entities, 64 in flight", 1000, 64))
  const floor = results[0]!.ops / results[0]!.seconds
  const rows = results.map((r) => {
    const sorted = [...r.latencies].sort((a, b) => a - b)
    const rate = r.ops / r.seconds
    return `| ${r.name} | ${Math.round(rate).toLocaleString("en-US")} | ${percentile(sorted, 50).toFixed(3)} | ${percentile(sorted, 99).toFixed(3)} | ${(rate / floor).toFixed(2)} |`
  })
  const cpu = cpus()
  const section = [
    "<!-- eventstore:start -->",
    "## Event store (SQLite) and actors",
    "",
    "`npx tsx bench/eventstore.ts`. One process, a fresh WAL file in the temp directory per row,",
    `\`synchronous = NORMAL\`. ${APPENDS.toLocaleString("en-US")} sequential single-event appends per store row, each with`,
    "an exact expected version; actor rows send single-event increment commands through the entity runtime",
    "(64 awaiting replies at a time; latency includes the wait in the mailbox). The first row is the floor:",
    "a bare prepared INSERT in an IMMEDIATE transaction with the same schema, measured in the same run;",
    "the last column is each row's throughput relative to it.",
    "",
    "Reading: the store's append costs little over the bare INSERT (version check + idempotency lookup",
    "in the same transaction). p99 is set by WAL auto-checkpoints (the only fsyncs under",
    "`synchronous = NORMAL`) and by the shared CPU. Actor rows pay one mailbox hand-off and one transaction",
    "per command; deciding the commands queued for one entity together and appending them in one",
    "transaction (group commit) is the next lever if the 3,000 commands/s target needs it.",
    "",
    "SQLite is `node:sqlite` (built into Node) since 2026-12-02. The last run on better-sqlite3 12.6 (Node",
    "20.20, 2026-11-28, same method) had the floor at 26,512 appends/s and the store's rows at 0.70× and",
    "0.56× of it: the same class as the rows below, within this machine's run-to-run noise.",
    "",
    "| scenario | ops/s | p50 ms | p99 ms | × floor |",
    "|---|---:|---:|---:|---:|",
    ...rows,
    "",
    `Machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, Node ${process.version}, load average at the end`,
    `${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        " / "
      )} (shared with other jobs: absolute numbers are noisy, ratios less so). ${new Date().toISOString()}.`,
    "<!-- eventstore:end -->"
  ].join("\n")
  const file = new URL("../BENCHMARKS.md", import.meta.url).pathname
  const current = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n"
  const pattern = /<!-- eventstore:start -->[\s\S]*<!-- eventstore:end -->/
  writeFileSync(
    file,
    pattern.test(current) ? current.replace(pattern, section) : `${current.trimEnd()}\n\n${section}\n`
  )
  console.log(section)
})

Effect.runPromise(main)
