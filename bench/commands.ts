/**
 * The full command path under load: auth → actor → SQLite append → response, on the real compiled
 * server (`node dist/main.mjs`, embedded SQLite store, monitoring on, OTLP tracing to a loopback sink),
 * pinned to core 0, driven by wrk on core 1.
 *
 * Setup (not timed): USERS users register and log in; each gets tasks of 4 blocks (100 minutes). Timed:
 * `wrk -c500` with bench/lua/commands.lua, in which every user works through its own blocks as a
 * client would — start block 1, complete block 1, start block 2, … — one request in flight per user
 * (a block can only be completed once started, and a task has one block in progress at a time). Every
 * request is one command through the whole path; half of them complete a block (task append + wallet
 * credit), half start one (task append). Afterwards every user's tasks, ledger and wallet are read
 * back through the API and checked against what wrk saw answered: no block lost, none paid twice, the
 * wallet equal to the tokens of the completed blocks plus the bonuses its ledger lists.
 *
 * Then the per-request CPU of the server (from /proc/<pid>/stat) for `/health/live` and an
 * authenticated read on the same server, so the command's cost splits into HTTP stack, auth and command.
 * With `--profile` the server runs under `node --cpu-prof` and the samples of each run's window are
 * grouped by where the code lives; such a run writes only its own BENCHMARKS.md section.
 *
 *   npx tsx bench/commands.ts [--no-build] [--profile]
 *   BENCH_USERS (1000), BENCH_SECONDS (30), BENCH_WARMUP_SECONDS (5), BENCH_CONNECTIONS (500),
 *   BENCH_CPU_SECONDS (10: the per-endpoint CPU runs), BENCH_SAMPLER (OTEL_TRACES_SAMPLER_ARG, 0.1: the sampling production is told to use)
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import * as Os from "node:os"
import { join } from "node:path"
import {
  buildServers,
  callJson,
  cpuMs,
  fmt,
  loadAverage,
  machine,
  openFilesFor,
  pinned,
  ROOT,
  type Running,
  registerUsers,
  rssMb,
  setupRetries,
  startServerProcess,
  startSink,
  sleep,
  tempFile,
  type WrkResult,
  wrk,
  wrkCommand,
  writeSection
} from "./support/harness.ts"
import { createTasks, dataFile, runCommands, verify } from "./support/commandPath.ts"

const USERS = Number(process.env.BENCH_USERS ?? 1000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30)
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 5)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 500)
const CPU_SECONDS = Number(process.env.BENCH_CPU_SECONDS ?? 10)
const SAMPLER = process.env.BENCH_SAMPLER ?? "0.1"
const build = !process.argv.includes("--no-build")
const profile = process.argv.includes("--profile")

const BLOCKS_PER_TASK = 4
const TASK_MINUTES = 25 * BLOCKS_PER_TASK
/** Commands one task takes: a start and a complete per block. */
const COMMANDS_PER_TASK = 2 * BLOCKS_PER_TASK
/** Open files for the server and wrk (500 connections plus SQLite, sockets to the sink). */
const OPEN_FILES = 65_536

// --- the server's own metrics ----------------------------------------------------------------------

/** `/metrics` as `name{labels}` → value (reading it also resets prom-client's event-loop delay histogram). */
const scrape = async (base: string): Promise<Map<string, number>> => {
  const reply = await callJson(base, "GET", "/metrics")
  const values = new Map<string, number>()
  for (const line of reply.text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (match?.[1] !== undefined && match[2] !== undefined) values.set(match[1], Number(match[2]))
  }
  return values
}

/** Event-loop delay between two scrapes (prom-client resets its histogram on each), and live actors at the second. */
const serverView = (after: Map<string, number>) => ({
  lagMaxMs: 1000 * (after.get("nodejs_eventloop_lag_max_seconds") ?? Number.NaN),
  lagP99Ms: 1000 * (after.get("nodejs_eventloop_lag_p99_seconds") ?? Number.NaN),
  actors: [...after.entries()]
    .filter(([name]) => name.startsWith("focusforge_actors_live{"))
    .map(([name, value]) => `${/kind="([^"]+)"/.exec(name)?.[1]} ${fmt(value)}`)
    .join(", ")
})

// --- CPU per request -------------------------------------------------------------------------------

/** A measured run: its CPU per request and its window on the monotonic clock (for the profile). */
const measured = async <A extends { readonly wrk: WrkResult }>(server: Running, run: () => Promise<A>) => {
  const before = cpuMs(server.child.pid!)
  const from = process.hrtime.bigint()
  const result = await run()
  const to = process.hrtime.bigint()
  const used = cpuMs(server.child.pid!) - before
  return {
    result,
    usPerRequest: (used * 1000) / result.wrk.requests,
    /** Busy share of one core over the run: the server's and wrk's. */
    serverCpuPercent: (100 * used) / (Number(to - from) / 1e6),
    loadCpuPercent: (100 * (result.wrk.loadCpuMs ?? Number.NaN)) / (Number(to - from) / 1e6),
    window: { fromMicros: Number(from / 1000n), toMicros: Number(to / 1000n) }
  }
}

// --- profile ---------------------------------------------------------------------------------------

interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number
    readonly callFrame: { readonly functionName: string; readonly url: string }
    readonly children?: ReadonlyArray<number>
  }>
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** Where our own compiled code (dist/) lives, by what the command path does there. */
const DIST = `file://${ROOT}dist/`
const srcCategory = (url: string): string | undefined => {
  if (!url.startsWith(DIST)) return undefined
  const file = url.slice(DIST.length).replace(/\.js$/, "")
  if (file === "layers/eventstore/EventStoreSqlite")
    return "SQLite store (EventStoreSqlite + node:sqlite, incl. native)"
  if (file === "layers/auth/Jwt") return "JWT verify (HMAC-SHA256, base64url, JSON)"
  if (
    file === "programs/blockCredits" ||
    file === "programs/taskReadModel" ||
    file.startsWith("eventsourcing/Subscription")
  )
    return "subscriptions and read models (src/eventsourcing/Subscription*, programs/blockCredits, taskReadModel)"
  if (file.startsWith("eventsourcing/"))
    return "event-sourcing core (src/eventsourcing: actor runtime, store port)"
  if (file.startsWith("domain/")) return "domain deciders (src/domain)"
  if (file.startsWith("http/")) return "our HTTP layer (src/http)"
  return "other src/ code"
}

const libraryCategory = (url: string, functionName: string): string => {
  if (functionName === "(garbage collector)") return "GC"
  if (functionName === "(program)") return "V8 / native, unattributed ((program))"
  if (url === "node:sqlite" || url.startsWith("node:internal/sqlite"))
    return "SQLite store (EventStoreSqlite + node:sqlite, incl. native)"
  if (url.includes("@opentelemetry") || url.includes("@effect/opentelemetry")) return "OpenTelemetry"
  if (url.includes("prom-client")) return "metrics (prom-client)"
  if (url.includes("@effect/platform")) return "@effect/platform HTTP + HttpApi + Node adapter"
  if (/effect\/dist\/.*\/(Schema|ParseResult|SchemaAST|schema\/)/.test(url))
    return "Effect Schema (decode/encode)"
  if (
    /effect\/dist\/.*\/(fiberRefs|fiberRef|context|hashMap|hashSet|Hash|Equal|Context|FiberRef|HashMap)/.test(
      url
    )
  )
    return "Effect FiberRefs / Context / Equal / Hash"
  if (url.includes("/effect/dist/")) return "Effect fiber runtime and core"
  if (url.startsWith("node:") || url === "") return "Node http/net/streams/crypto + native"
  return `other (${url.replace(/^.*node_modules\//, "")})`
}

/**
 * Self time per category over the samples inside [fromMicros, toMicros] (V8's monotonic clock, the same
 * CLOCK_MONOTONIC as `process.hrtime` here). A sample belongs to the first of our files found walking
 * up from its leaf before the Effect fiber runtime (above it, the stack is the scheduler, not the
 * caller); without one, to the leaf's library.
 */
const analyseProfile = (profile: CpuProfile, fromMicros: number, toMicros: number) => {
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const categoryOf = new Map<number, string | null>()
  const classify = (id: number): string | null => {
    const cached = categoryOf.get(id)
    if (cached !== undefined) return cached
    const leaf = byId.get(id)!
    let category: string | null = null
    if (leaf.callFrame.functionName === "(idle)") category = null
    else {
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const url = byId.get(at)!.callFrame.url
        if (/effect\/dist\/.*\/internal\/fiberRuntime\.js$/.test(url)) break
        const ours = srcCategory(url)
        if (ours !== undefined) {
          category = ours
          break
        }
      }
      category ??= libraryCategory(leaf.callFrame.url, leaf.callFrame.functionName)
    }
    categoryOf.set(id, category)
    return category
  }
  const micros = new Map<string, number>()
  let at = profile.startTime
  let idle = 0
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0
    if (at < fromMicros || at > toMicros) continue
    const delta = profile.timeDeltas[i + 1] ?? 0
    const category = classify(profile.samples[i]!)
    if (category === null) idle += delta
    else micros.set(category, (micros.get(category) ?? 0) + delta)
  }
  return { micros, idle }
}

// --- the run ---------------------------------------------------------------------------------------

const main = async () => {
  if (build) buildServers()
  const sink = await startSink()
  const profileDir = profile ? mkdtempSync(join(Os.tmpdir(), "focusforge-commands-prof-")) : ""
  const server = await startServerProcess({
    id: "main",
    script: "dist/main.mjs",
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER_ARG: SAMPLER },
    describe: "node dist/main.mjs",
    openFiles: OPEN_FILES,
    ...(profile ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] } : {})
  })
  const raw = await startServerProcess({
    id: "raw",
    script: "dist-bench/bench/servers/raw.js",
    env: {},
    describe: "raw node:http",
    openFiles: OPEN_FILES
  })
  let stopped = false
  try {
    await sleep(1_000)
    const idleRss = rssMb(server.child.pid!)
    const setupStarted = performance.now()
    console.log(`setup: registering and logging in ${USERS} users`)
    const users = await registerUsers(server.url, USERS, `cmd-${Date.now()}`)
    const registered = performance.now()
    console.log(`setup: ${((registered - setupStarted) / 1000).toFixed(1)} s; creating warm-up tasks`)
    const warmTasks = await createTasks(server.url, users, 2, "warm-up", BLOCKS_PER_TASK)
    const warm = await runCommands(
      server.url,
      WARMUP_SECONDS,
      dataFile(users, warmTasks),
      CONNECTIONS,
      OPEN_FILES
    )
    const warmRate = warm.wrk.rps
    console.log(
      `warm-up: ${warmRate.toFixed(0)} commands/s, p99 ${warm.wrk.p99Ms.toFixed(1)} ms, failed ${warm.failed}`
    )
    // Enough blocks for 2.5× the warm-up's rate (a warm JIT is faster); running out fails the run below.
    const perUser = Math.ceil((Math.max(warmRate * 2.5, 1_500) * SECONDS) / USERS / COMMANDS_PER_TASK) + 1
    const tasksStarted = performance.now()
    const timedTasks = await createTasks(server.url, users, perUser, "timed", BLOCKS_PER_TASK)
    const tasksCreated = performance.now()
    console.log(
      `setup: ${perUser} tasks per user (${perUser * USERS} tasks) in ${((tasksCreated - tasksStarted) / 1000).toFixed(1)} s`
    )
    const timedData = dataFile(users, timedTasks)

    const rawRun = await wrk({ url: `${raw.url}/health/live`, seconds: 5, connections: CONNECTIONS })
    console.log(`raw node:http just before: ${rawRun.rps.toFixed(0)} req/s`)

    const loadBefore = loadAverage()
    const rss: Array<number> = [rssMb(server.child.pid!)]
    const sampler = setInterval(() => rss.push(rssMb(server.child.pid!)), 1_000)
    // Read once right before, so the event-loop delay histogram covers the timed run only.
    await scrape(server.url)
    const timedRun = await measured(server, () =>
      runCommands(server.url, SECONDS, timedData, CONNECTIONS, OPEN_FILES)
    )
    const timed = timedRun.result
    const metricsAfter = await scrape(server.url)
    clearInterval(sampler)
    rss.push(rssMb(server.child.pid!))
    const loadAfter = loadAverage()
    const commands = timed.startOk + timed.completeOk
    const view = serverView(metricsAfter)
    // wrk's Requests/sec would also count the requests of a starved run (which then fails below).
    const runtimeSeconds = timed.wrk.requests / timed.wrk.rps
    const timedRate = (commands + timed.failed) / runtimeSeconds
    console.log(
      `timed: ${timedRate.toFixed(0)} commands/s (${commands} answered 2xx: ${timed.startOk} starts, ${timed.completeOk} completes), p50 ${timed.wrk.p50Ms.toFixed(1)} ms, p99 ${timed.wrk.p99Ms.toFixed(1)} ms, failed ${timed.failed}, socket errors ${JSON.stringify(timed.wrk.socketErrors)}, starved ${timed.starved}`
    )

    // The process manager re-sends credits every 2 s: let it catch up so its (idempotent) work is done.
    await sleep(3_000)
    console.log("verifying every user's tasks, ledger and wallet through the API")
    const verification = await verify(
      server.url,
      users,
      [
        { tasks: warmTasks, run: warm },
        { tasks: timedTasks, run: timed }
      ],
      warm.tokens + timed.tokens
    )
    console.log(JSON.stringify(verification, null, 2))

    // Per-request CPU of cheaper requests on the same server, same concurrency.
    const tokens = tempFile("tokens.txt", `${users.map((u) => u.token).join("\n")}\n`)
    const health = await measured(server, async () => ({
      wrk: await wrk({
        url: `${server.url}/health/live`,
        seconds: CPU_SECONDS,
        connections: CONNECTIONS,
        openFiles: OPEN_FILES
      })
    }))
    const me = await measured(server, async () => ({
      wrk: await wrk({
        url: `${server.url}/api/v1/auth/me`,
        seconds: CPU_SECONDS,
        connections: CONNECTIONS,
        script: "bench/lua/bearer.lua",
        scriptArgs: [`tokens=${tokens}`, "paths=/api/v1/auth/me"],
        openFiles: OPEN_FILES
      })
    }))
    const commandUs = timedRun.usPerRequest
    console.log(
      `CPU per request: /health/live ${health.usPerRequest.toFixed(0)} µs, /auth/me ${me.usPerRequest.toFixed(0)} µs, command ${commandUs.toFixed(0)} µs`
    )

    const errors = timed.failed + timed.unmatched + timed.starved + timed.wrk.errors
    const integrity =
      verification.lost +
      verification.phantom +
      verification.unpaid +
      verification.overpaid +
      verification.walletMismatches
    const met = timedRate >= 3_000 && timed.wrk.p99Ms < 50 && errors === 0
    const verdict = `Target (≥ 3,000 commands/s, p99 < 50 ms at ${CONNECTIONS} connections, zero errors): ${fmt(timedRate)} commands/s, p99 ${fmt(timed.wrk.p99Ms, 1)} ms, ${errors} errors → ${met ? "**met**" : "**not met**"}. Integrity: ${integrity === 0 ? "**exact**" : `**${integrity} discrepancies**`} (no block lost or paid twice, every wallet equal to its completed blocks' tokens plus its ledger's bonuses).`
    const timedCommand = wrkCommand({
      url: "http://127.0.0.1:<port>",
      seconds: SECONDS,
      connections: CONNECTIONS,
      script: "bench/lua/commands.lua",
      scriptArgs: ["<data file>"],
      openFiles: OPEN_FILES
    })
    const statusText =
      Object.keys(timed.statuses).length === 0
        ? "none"
        : Object.entries(timed.statuses)
            .map(([status, count]) => `${count} × ${status}`)
            .join(", ")
    const section = `## Command path under load (\`bench/commands.ts\`)

\`npx tsx bench/commands.ts\` (or \`npm run bench -- commands\`). Builds dist/ and dist-bench/ like
\`bench/http.ts\`, then runs the real server, \`node dist/main.mjs\` (embedded SQLite store in a fresh
\`DATA_DIR\`, WAL, \`synchronous = NORMAL\`; monitoring on; tracing on, exported over OTLP/HTTP to a
loopback sink in the bench process at \`OTEL_TRACES_SAMPLER_ARG=${SAMPLER}\`: ${sink.exports()} exports received),
${pinned ? "pinned to core 0 (`taskset -c 0`)" : "unpinned"}, with \`RLIMIT_NOFILE\` ${openFilesFor(OPEN_FILES)} (\`prlimit\`; wrk too).

**Setup, not timed.** ${fmt(USERS)} users register and log in (\`POST /auth/register\`, \`POST /auth/login\`; the login's
token is used; ${fmt((registered - setupStarted) / 1000, 1)} s, mostly scrypt). Each creates 2 tasks for the warm-up and
then ${perUser} for the timed run (${fmt(perUser * USERS)} tasks; enough for 2.5 × the warm-up's rate), each of
${TASK_MINUTES} minutes, cut into ${BLOCKS_PER_TASK} blocks of 25, difficulty rotating low/medium/high (20/25/32 tokens a block).
Setup and verification calls sent again after a connection error: ${setupRetries()}.

**Timed: what a "command" is.** A block can only be completed after it was started, and a task has one
block in progress at a time, so every user works through its blocks as a client does: start block 1,
complete block 1, start block 2, … \`bench/lua/commands.lua\` keeps one request in flight per user and
moves a user to its next step when the response hook sees its answer (matched by the \`x-request-id\` the
server echoes); ${fmt(USERS)} users behind ${CONNECTIONS} connections keep every connection busy. Every request is one
command through the whole path — bearer auth (JWT + the account's actor, which reads its stream's tail),
the task's actor (decide, one SQLite append), for a completion also the wallet's actor (\`CreditBlock\`, a second
append) — and its JSON answer. Half of the commands are starts (one append), half completions (two appends
and the token credit); both count as commands/s, completions/s is half of it. The block-credit process
manager (re-sends every \`BlockCompleted\` it reads to the wallet every 2 s, which pays nothing twice) and the
monitor run inside the server meanwhile, as in production.

Commands: \`${timedCommand}\` after a ${WARMUP_SECONDS} s warm-up on the warm-up tasks. Non-2xx answers are counted by the
Lua \`response\` hook (and by wrk), socket errors by wrk. Afterwards, for every user, \`GET /tasks\`, \`GET
/store/transactions\` and \`GET /store/profile\` are read through the API and checked: every block whose
completion was answered 2xx is completed, no other block is (except one whose completion was still
unanswered when wrk stopped), every completed block is paid exactly once with its tokens, each wallet's
balance and total earned equal its ledger, and the tokens in the 2xx answers add up to the block tokens in
the wallets.

${verdict}

| measure | value |
|---|---:|
| commands/s (starts + completions answered) | ${fmt(timedRate)} |
| block completions/s | ${fmt(timed.completeOk / runtimeSeconds)} |
| latency p50 / p99 (ms) | ${fmt(timed.wrk.p50Ms, 1)} / ${fmt(timed.wrk.p99Ms, 1)} |
| commands answered 2xx (starts / completions) | ${fmt(commands)} (${fmt(timed.startOk)} / ${fmt(timed.completeOk)}) |
| non-2xx answers (Lua \`response\` hook; statuses) | ${timed.failed} (${statusText}) |
| wrk socket errors (connect / read / write / timeout) | ${timed.wrk.socketErrors.connect} / ${timed.wrk.socketErrors.read} / ${timed.wrk.socketErrors.write} / ${timed.wrk.socketErrors.timeout} |
| requests without a free user (data exhausted; must be 0) | ${timed.starved} |
| blocks completed (server) / answered 2xx over both runs / completed by an unanswered request | ${fmt(verification.completedBlocks)} / ${fmt(verification.expectedBlocks)} / ${verification.inDoubtCompleted} |
| lost / phantom / unpaid / paid twice / wallet mismatches | ${verification.lost} / ${verification.phantom} / ${verification.unpaid} / ${verification.overpaid} / ${verification.walletMismatches} |
| tokens: blocks / bonuses / wallet balances (all users) | ${fmt(verification.blockTokens)} / ${fmt(verification.bonusTokens)} / ${fmt(verification.walletBalance)} |
| raw \`node:http\` \`/health/live\`, same connections, just before (machine state) | ${fmt(rawRun.rps)} req/s |
| CPU busy during the timed run: server (core 0) / wrk (core 1) | ${fmt(timedRun.serverCpuPercent)} % / ${fmt(timedRun.loadCpuPercent)} % |
| server's event-loop delay over the timed run, max / p99 (ms; its \`/metrics\`) | ${fmt(view.lagMaxMs, 1)} / ${fmt(view.lagP99Ms, 1)} |
| live actors after the timed run | ${view.actors} |
| server RSS MB: idle before setup / timed run start / peak / end | ${fmt(idleRss)} / ${fmt(rss[0] ?? Number.NaN)} / ${fmt(Math.max(...rss))} / ${fmt(rss[rss.length - 1] ?? Number.NaN)} |

**Latency follows throughput here.** wrk keeps one request in flight per connection (a closed loop), so by
Little's law the mean latency is connections ÷ throughput: ${CONNECTIONS} ÷ ${fmt(timedRate)} commands/s ≈ ${fmt((1000 * CONNECTIONS) / timedRate)} ms
(measured p50 ${fmt(timed.wrk.p50Ms)} ms). A p99 under 50 ms at ${CONNECTIONS} busy connections therefore needs more than
${fmt((CONNECTIONS * 1000) / 50)} commands/s; at the 3,000 commands/s target the mean alone would be ${fmt((CONNECTIONS * 1000) / 3000)} ms. Both
targets together hold only for an open-loop load below saturation (3,000 commands/s offered, fewer in
flight), not for ${CONNECTIONS} connections sending as fast as they are answered.

**Where the CPU goes, per request** (server process utime + stime from \`/proc/<pid>/stat\` over each run,
divided by the requests wrk counted; ${CPU_SECONDS} s runs at ${CONNECTIONS} connections on the same server right after the
timed run, the command row is the timed run itself; background work — process manager, monitor, span
export — is included, as it is part of what a command costs):

| request | µs CPU per request | req/s | what it adds |
|---|---:|---:|---|
| \`GET /health/live\` | ${fmt(health.usPerRequest)} | ${fmt(health.result.wrk.rps)} | the HTTP stack (floor) |
| \`GET /api/v1/auth/me\` (bearer.lua, ${fmt(USERS)} tokens) | ${fmt(me.usPerRequest)} | ${fmt(me.result.wrk.rps)} | + auth: JWT verify, account actor read (SQLite tail read), user view — ${fmt(me.usPerRequest - health.usPerRequest)} µs |
| command (½ start, ½ complete) | ${fmt(commandUs)} | ${fmt(timedRate)} | + task actor, SQLite appends, wallet credit, process manager — ${fmt(commandUs - me.usPerRequest)} µs |

At ${fmt(commandUs)} µs of one core per command, one event loop tops out near ${fmt(1e6 / commandUs)} commands/s
on an otherwise idle core; the 3,000 commands/s target needs ≤ 333 µs.

Machine: ${machine()}; load average ${loadBefore} before the timed run and ${loadAfter} after
(shared with other jobs). ${new Date().toISOString()}.`
    // A profiled run is slower (the profiler's overhead): it writes only its own section.
    if (!profile) writeSection("commands", section)
    console.log(`\n${section}`)

    if (profile) {
      await server.stop()
      stopped = true
      const file = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"))
      if (file === undefined) throw new Error(`no .cpuprofile in ${profileDir}`)
      const cpuProfile = JSON.parse(readFileSync(join(profileDir, file), "utf8")) as CpuProfile
      // Kept for a closer look (e.g. in Chrome DevTools), with the windows of the three runs.
      writeFileSync(
        join(profileDir, "windows.json"),
        JSON.stringify({ health: health.window, me: me.window, command: timedRun.window })
      )
      console.log(
        `profile kept in ${join(profileDir, file)} (run windows in ${join(profileDir, "windows.json")})`
      )
      const columns = [
        { label: "`/health/live`", run: health },
        { label: "`/api/v1/auth/me`", run: me },
        { label: "command (½ start, ½ complete)", run: timedRun }
      ].map(({ label, run }) => {
        const { micros, idle } = analyseProfile(cpuProfile, run.window.fromMicros, run.window.toMicros)
        const busy = [...micros.values()].reduce((a, b) => a + b, 0)
        return { label, micros, idle, busy, requests: run.result.wrk.requests, rps: run.result.wrk.rps }
      })
      const command = columns[2]!
      const categories = [...new Set(columns.flatMap((c) => [...c.micros.keys()]))].sort(
        (a, b) => (command.micros.get(b) ?? 0) - (command.micros.get(a) ?? 0)
      )
      const perRequest = (column: (typeof columns)[number], category: string) =>
        fmt((column.micros.get(category) ?? 0) / column.requests, 1)
      const rows = categories
        .map(
          (category) =>
            `| ${category} | ${columns.map((c) => perRequest(c, category)).join(" | ")} | ${fmt((100 * (command.micros.get(category) ?? 0)) / command.busy, 1)} % |`
        )
        .join("\n")
      const profileSection = `## Command path: where the time goes (\`bench/commands.ts --profile\`)

\`npx tsx bench/commands.ts --profile\` (or \`npm run bench -- commands --profile\`): a separate run with the same
settings and the server under \`node --cpu-prof\` (1 ms
sampling; the profiler's own overhead is in every cell), ${fmt(USERS)} users, ${SECONDS} s timed. Each column takes
only the samples inside its run's window (V8's sample timestamps and the bench's \`process.hrtime\` share
CLOCK_MONOTONIC) and divides by the requests wrk counted in it. A sample is attributed to the first of our
files found walking up its stack from the leaf before reaching the Effect fiber runtime (above it the stack
is the scheduler, not the caller) — so SQLite's native calls count as the store, the JWT's HMAC as JWT — and
otherwise to the library of its leaf. Work our code hands to the Effect runtime (Schema encoding of events
and answers, the actors' mailbox hand-offs, streams, spans) therefore lands in the library rows, not in the
row of the code that asked for it.

| where (µs CPU per request) | ${columns.map((c) => c.label).join(" | ")} | share of the command |
|---|${columns.map(() => "---:").join("|")}|---:|
${rows}
| **total** | ${columns.map((c) => `**${fmt(c.busy / c.requests, 1)}**`).join(" | ")} | 100 % |
| req/s under the profiler | ${columns.map((c) => fmt(c.rps)).join(" | ")} | |
| event loop idle in the window | ${columns.map((c) => `${fmt((100 * c.idle) / (c.busy + c.idle), 1)} %`).join(" | ")} | |

Machine: ${machine()}; load average ${loadAfter} after the timed run. ${new Date().toISOString()}.`
      writeSection("commands-profile", profileSection)
      console.log(`\n${profileSection}`)
    }
    if (errors > 0 || integrity > 0 || timed.starved > 0) process.exitCode = 1
  } finally {
    if (!stopped) await server.stop()
    await raw.stop()
    await sink.close()
  }
}

await main()
