/**
 * What writes to the same entities from two instances cost. Two compiled servers (`node dist/main.mjs`)
 * share one DATA_DIR (started together on it while it is empty: their first start is race-free), both
 * pinned to core 0; two wrk processes on core 1, one per instance, POST `/api/v1/mood` for 10 users.
 *
 * - "shared": each wrk sends for all 10 users, so every user's mood stream has a writer in each
 *   instance: the actor of one instance finds the stream moved by the other, gets a VersionConflict,
 *   reads the missing events and decides again (what `least_conn` in nginx does to a hot user).
 * - "affinity": wrk 1 sends for users 1–5 and wrk 2 for users 6–10, so each stream has one writer (what
 *   `hash $http_authorization consistent` does).
 *
 * The runs alternate, each on 10 fresh users (mood logs start empty in every run). Around each run both
 * instances' `/metrics` are read: append attempts by outcome (`focusforge_event_store_append_duration_seconds`
 * count, `outcome="ok"|"conflict"`), the actors' conflict retries (`focusforge_actor_commands_total`,
 * `outcome="conflict_retry"`), and the servers' CPU from /proc. Afterwards every user's `GET /mood` total
 * is checked against the 2xx answers wrk counted.
 *
 *   npx tsx bench/instances.ts [--no-build]
 *   BENCH_SECONDS (15), BENCH_CONNECTIONS (32 per wrk), BENCH_ROUNDS (2: shared, affinity, shared, …)
 */
import { mkdtempSync, rmSync } from "node:fs"
import * as Os from "node:os"
import { join } from "node:path"
import {
  type BenchUser,
  buildServers,
  callJson,
  cpuMs,
  expectJson,
  fmt,
  loadAverage,
  luaReport,
  machine,
  median,
  pinned,
  type Running,
  registerUsers,
  startServerProcess,
  tempFile,
  type WrkResult,
  wrk,
  wrkCommand,
  writeSection
} from "./support/harness.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const USERS = 10
const MOOD = JSON.stringify({ score: 7, energy: 6, stress: 3 })
const build = !process.argv.includes("--no-build")

type Routing = "shared" | "affinity"

/** Sum of the `/metrics` samples of `name` whose labels include every one of `labels`. */
const metric = (text: string, name: string, labels: ReadonlyArray<string>): number => {
  let total = 0
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match?.[1] !== name || match[3] === undefined) continue
    if (labels.every((label) => (match[2] ?? "").includes(label))) total += Number(match[3])
  }
  return total
}

interface Counters {
  readonly appendsOk: number
  readonly appendsConflict: number
  readonly retries: number
  readonly cpuMs: number
}

const counters = async (servers: ReadonlyArray<Running>): Promise<Counters> => {
  const texts = await Promise.all(servers.map(async (s) => (await callJson(s.url, "GET", "/metrics")).text))
  const sum = (f: (text: string) => number) => texts.reduce((total, text) => total + f(text), 0)
  const appends = "focusforge_event_store_append_duration_seconds_count"
  return {
    appendsOk: sum((t) => metric(t, appends, ['outcome="ok"'])),
    appendsConflict: sum((t) => metric(t, appends, ['outcome="conflict"'])),
    retries: sum((t) =>
      metric(t, "focusforge_actor_commands_total", ['kind="mood"', 'outcome="conflict_retry"'])
    ),
    cpuMs: servers.reduce((total, s) => total + cpuMs(s.child.pid!), 0)
  }
}

interface RunResult {
  readonly routing: Routing
  readonly rps: number
  readonly ok: number
  readonly failed: number
  readonly socketErrors: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Share of append attempts refused with a VersionConflict. */
  readonly conflictShare: number
  readonly retriesPerWrite: number
  readonly usCpuPerWrite: number
  readonly stored: number
}

const run = async (servers: readonly [Running, Running], routing: Routing, round: number) => {
  const users = await registerUsers(servers[0].url, USERS, `instances-${routing}-${round}-${Date.now()}`)
  // Each user's account actor is warmed on both instances, so the timed run measures the writes.
  for (const server of servers)
    for (const user of users)
      await expectJson(200, server.url, "GET", "/api/v1/auth/me", { token: user.token })
  const half = USERS / 2
  const tokensFor = (i: number): ReadonlyArray<BenchUser> =>
    routing === "shared" ? users : users.slice(i * half, (i + 1) * half)
  const before = await counters(servers)
  const runs: ReadonlyArray<WrkResult> = await Promise.all(
    servers.map((server, i) =>
      wrk({
        url: server.url,
        seconds: SECONDS,
        connections: CONNECTIONS,
        script: "bench/lua/bearer.lua",
        scriptArgs: [
          `tokens=${tempFile(
            "tokens.txt",
            `${tokensFor(i)
              .map((u) => u.token)
              .join("\n")}\n`
          )}`,
          "paths=/api/v1/mood",
          `body=${MOOD}`
        ]
      })
    )
  )
  const after = await counters(servers)
  const ok = runs.reduce((total, r) => total + Number(luaReport(r.text).ok ?? Number.NaN), 0)
  const failed = runs.reduce((total, r) => total + Number(luaReport(r.text).failed ?? Number.NaN), 0)
  const appendsOk = after.appendsOk - before.appendsOk
  const appendsConflict = after.appendsConflict - before.appendsConflict
  let stored = 0
  for (const user of users) {
    const log = await expectJson<{ total: number }>(200, servers[1].url, "GET", "/api/v1/mood", {
      token: user.token
    })
    stored += log.total
  }
  const result: RunResult = {
    routing,
    rps: runs.reduce((total, r) => total + r.rps, 0),
    ok,
    failed,
    socketErrors: runs.reduce((total, r) => total + r.errors - r.non2xx, 0),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: Math.max(...runs.map((r) => r.p99Ms)),
    conflictShare: appendsConflict / (appendsOk + appendsConflict),
    retriesPerWrite: (after.retries - before.retries) / ok,
    usCpuPerWrite: (1000 * (after.cpuMs - before.cpuMs)) / ok,
    stored
  }
  console.log(JSON.stringify(result))
  return result
}

const main = async () => {
  if (build) buildServers()
  const dataDir = mkdtempSync(join(Os.tmpdir(), "focusforge-bench-shared-"))
  const env = (id: string) => ({
    DATA_DIR: dataDir,
    INSTANCE_ID: id,
    // Only the HTTP writes under test: the planner tick and memory expiry are the worker's.
    BACKGROUND_JOBS: "worker"
  })
  const servers = (await Promise.all(
    ["instance-1", "instance-2"].map((id) =>
      startServerProcess({ id, script: "dist/main.mjs", env: env(id), describe: id })
    )
  )) as [Running, Running]
  try {
    const loadBefore = loadAverage()
    const results: Array<RunResult> = []
    for (let round = 0; round < ROUNDS; round++) {
      for (const routing of ["shared", "affinity"] as const) results.push(await run(servers, routing, round))
    }
    const loadAfter = loadAverage()
    const of = (routing: Routing) => results.filter((r) => r.routing === routing)
    const mid = (routing: Routing, f: (r: RunResult) => number) => median(of(routing).map(f))
    const rows = results
      .map(
        (r, i) =>
          `| ${i + 1} | ${r.routing} | ${fmt(r.rps)} | ${fmt(r.p50Ms, 1)} / ${fmt(r.p99Ms, 1)} | ${fmt(100 * r.conflictShare, 1)} % | ${fmt(r.retriesPerWrite, 2)} | ${fmt(r.usCpuPerWrite)} | ${fmt(r.ok)} / ${fmt(r.stored)} | ${r.failed} / ${r.socketErrors} |`
      )
      .join("\n")
    const command = wrkCommand({
      url: "http://127.0.0.1:<port of instance N>",
      seconds: SECONDS,
      connections: CONNECTIONS,
      script: "bench/lua/bearer.lua",
      scriptArgs: ["tokens=<users of instance N>", "paths=/api/v1/mood", `body=${MOOD}`]
    })
    const section = `## Two instances writing the same users (\`bench/instances.ts\`)

\`npx tsx bench/instances.ts\` (or \`npm run bench -- instances\`). Two compiled servers (\`node dist/main.mjs\`,
embedded SQLite store, monitoring on, no tracing, \`BACKGROUND_JOBS=worker\`) started together on one empty
\`DATA_DIR\`, ${pinned ? "both pinned to core 0" : "unpinned"}; two wrk, one per instance, ${pinned ? "both on core 1" : "unpinned"}, each
\`${command}\`: every request is \`POST /api/v1/mood\` (auth, the user's mood actor, one SQLite append). ${USERS} users
per run, fresh in every run; the runs alternate.

- **shared**: both wrk send for all ${USERS} users, so every mood stream is written by both instances (nginx
  \`least_conn\`, or any balancing that ignores the user). An actor whose instance lost the race to the other
  gets a \`VersionConflict\`, reads the events it missed and decides again (up to \`ACTOR_MAX_CONFLICT_RETRIES\`).
- **affinity**: wrk 1 sends for users 1–${USERS / 2}, wrk 2 for users ${USERS / 2 + 1}–${USERS}: each stream has one writer
  (nginx \`hash $http_authorization consistent\`).

Conflict share = appends refused with a \`VersionConflict\` ÷ all append attempts, both instances together
(\`focusforge_event_store_append_duration_seconds_count\` by \`outcome\`, read from \`/metrics\` before and after the
run); retries = \`focusforge_actor_commands_total{kind="mood",outcome="conflict_retry"}\` per write answered 2xx;
CPU = both servers' utime + stime (/proc) per write answered 2xx. "stored" is the sum of every user's
\`GET /mood\` total afterwards (it may exceed the 2xx answers by requests still in flight when wrk stopped).

| run | routing | writes/s (both) | p50 / p99 (ms) | conflict share of appends | conflict retries per write | µs CPU per write (both servers) | 2xx / stored | non-2xx / socket errors |
|---|---|---:|---:|---:|---:|---:|---:|---:|
${rows}

Medians: **shared ${fmt(mid("shared", (r) => r.rps))} writes/s with ${fmt(100 * mid("shared", (r) => r.conflictShare), 1)} % of appends conflicting**
(${fmt(mid("shared", (r) => r.usCpuPerWrite))} µs CPU per write); **affinity ${fmt(mid("affinity", (r) => r.rps))} writes/s, ${fmt(100 * mid("affinity", (r) => r.conflictShare), 1)} %**
(${fmt(mid("affinity", (r) => r.usCpuPerWrite))} µs). A conflict costs an append attempt the store refuses (the stream head moved while
the actor's state was cached), a read of the events it missed and a second decision, and the write waits
for all of it. Routing a user's requests to one instance removes it, which is why the README recommends
\`hash $http_authorization consistent\` in nginx where users write their own streams hard.

Machine: ${machine()}; load average ${loadBefore} before and ${loadAfter} after (shared with other jobs).
${new Date().toISOString()}.`
    writeSection("instances", section)
    console.log(`\n${section}`)
    const errors = results.reduce((total, r) => total + r.failed + r.socketErrors, 0)
    const lost = results.filter((r) => r.stored < r.ok).length
    if (errors > 0 || lost > 0) process.exitCode = 1
  } finally {
    await Promise.all(servers.map((server) => server.stop()))
    rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
