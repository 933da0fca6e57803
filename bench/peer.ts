/**
 * FocusForge beside the conventional service a user would compare it with (issue 17):
 * `node dist/main.mjs` (embedded SQLite, monitoring on, OTLP tracing at the production sampling ratio to
 * a loopback sink) against bench/servers/peer-fastify.mjs (Fastify 5 + node:sqlite WAL, fast-jwt HS256,
 * argon2id), both pinned to core 0, the load on core 1, run alternately in ROUNDS rounds; medians.
 *
 * Rows: (a) authenticated read `GET /store/profile`, (b) authenticated write `POST /mood` (wrk -c100,
 * bench/lua/bearer.lua), (c) the command path, block start + complete with the wallet credited (wrk,
 * bench/lua/commands.lua; every wallet verified through the API afterwards), (d) an open-loop mix at a
 * fixed arrival rate (bench/support/openloop.ts: latency from each request's intended send time), the
 * same without its logins, and (e) issue 16's row: authenticated reads at a fixed rate with and without
 * 300 concurrent logins.
 *
 *   npx tsx bench/peer.ts [--no-build] [--profile]
 *   BENCH_SECONDS (6), BENCH_ROUNDS (3), BENCH_CONNECTIONS (100: rows a–c), BENCH_RATE (2000: row d),
 *   BENCH_OPEN_CONNECTIONS (500: row d), BENCH_USERS (200), BENCH_MIX_USERS (200), BENCH_STORM (300),
 *   BENCH_STORM_RATE (200: row e's reads/s), BENCH_SAMPLER (0.1)
 * With --profile only FocusForge runs, once, under `node --cpu-prof`; the self time of rows (a)–(c) is
 * grouped by source file through dist/'s source maps (printed, and written to its own section).
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { SourceMap } from "node:module"
import * as Os from "node:os"
import { dirname, join, relative, resolve } from "node:path"
import { promisify } from "node:util"
import {
  type BenchTask,
  type CommandRun,
  createTasks,
  dataFile,
  runCommands,
  type Verification,
  verify
} from "./support/commandPath.ts"
import {
  type BenchUser,
  buildServers,
  cpuMs,
  fmt,
  LOAD_CPU,
  loadAverage,
  luaReport,
  machine,
  median,
  openFilesFor,
  pin,
  pinned,
  ROOT,
  type Running,
  registerUsers,
  rssMb,
  type ServerSpec,
  sleep,
  startServerProcess,
  startSink,
  tempFile,
  withOpenFiles,
  wrk,
  writeSection
} from "./support/harness.ts"
import type { LatencySummary, OpenLoopConfig, OpenLoopReport, OpenLoopUser } from "./support/openloop.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100)
const RATE = Number(process.env.BENCH_RATE ?? 2000)
const OPEN_CONNECTIONS = Number(process.env.BENCH_OPEN_CONNECTIONS ?? 500)
const USERS = Number(process.env.BENCH_USERS ?? 200)
const MIX_USERS = Number(process.env.BENCH_MIX_USERS ?? 200)
const STORM = Number(process.env.BENCH_STORM ?? 300)
const STORM_RATE = Number(process.env.BENCH_STORM_RATE ?? 200)
const SAMPLER = process.env.BENCH_SAMPLER ?? "0.1"
const WARMUP_SECONDS = 2
const build = !process.argv.includes("--no-build")
const profile = process.argv.includes("--profile")

const OPEN_FILES = 65_536
/** 600-minute tasks: 24 blocks of 25 minutes, 48 commands each (the most a task may have). */
const BLOCKS_PER_TASK = 24
const PASSWORD = "correct horse battery"
const MIX: OpenLoopConfig["mix"] = [
  { kind: "profile", weight: 24 },
  { kind: "dashboard", weight: 23 },
  { kind: "tasks", weight: 23 },
  { kind: "mood", weight: 14 },
  { kind: "block", weight: 14 },
  { kind: "login", weight: 2 }
]
const MIX_WITHOUT_LOGINS = MIX.map((m) => (m.kind === "login" ? { kind: "profile" as const, weight: 2 } : m))

// --- one measured run ------------------------------------------------------------------------------

/** What every row reports for one server in one round. */
interface Sample {
  readonly rps: number
  readonly requests: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  /** Connection errors, timeouts, unanswered requests. */
  readonly errors: number
  readonly non2xx: number
  readonly cpuUsPerRequest: number
  readonly peakRssMb: number
  readonly note?: string
  /** The load's window on the monotonic clock (what --profile cuts the CPU profile to). */
  readonly window?: { readonly fromMicros: number; readonly toMicros: number }
}

/** Runs `load` while reading the server's CPU time and sampling its RSS every 250 ms. */
const measure = async <A>(server: Running, load: () => Promise<A>) => {
  const pid = server.child.pid!
  const rss: Array<number> = [rssMb(pid)]
  const sampler = setInterval(() => rss.push(rssMb(pid)), 250)
  const cpuBefore = cpuMs(pid)
  const from = process.hrtime.bigint()
  try {
    const result = await load()
    return {
      result,
      cpuMs: cpuMs(pid) - cpuBefore,
      peakRssMb: Math.max(...rss, rssMb(pid)),
      window: { fromMicros: Number(from / 1000n), toMicros: Number(process.hrtime.bigint() / 1000n) }
    }
  } finally {
    clearInterval(sampler)
  }
}

const wrkSample = (
  run: Awaited<ReturnType<typeof measure<Awaited<ReturnType<typeof wrk>>>>>,
  failed: number
): Sample => {
  const w = run.result
  const p999 = Number(luaReport(w.text).p999_us ?? Number.NaN) / 1000
  const socket = w.socketErrors.connect + w.socketErrors.read + w.socketErrors.write + w.socketErrors.timeout
  return {
    rps: w.rps,
    requests: w.requests,
    p50Ms: w.p50Ms,
    p99Ms: w.p99Ms,
    p999Ms: p999,
    errors: socket,
    non2xx: failed,
    cpuUsPerRequest: (run.cpuMs * 1000) / w.requests,
    peakRssMb: run.peakRssMb,
    window: run.window
  }
}

/**
 * Waits until the server is idle again: under 5 % of a core over 500 ms, for at most 60 s. A row can
 * leave work queued behind it (login hashes whose clients timed out are still computed), which would
 * otherwise be billed to the next row. Answers how long it waited.
 */
const settle = async (server: Running): Promise<number> => {
  const pid = server.child.pid!
  const started = performance.now()
  for (;;) {
    const before = cpuMs(pid)
    await sleep(500)
    if (cpuMs(pid) - before <= 25 || performance.now() - started > 60_000) return performance.now() - started
  }
}

const execFileAsync = promisify(execFile)

/** bench/support/openloop.ts in its own process on the load core (plain node strips its types). */
const openLoop = async (config: OpenLoopConfig): Promise<OpenLoopReport> => {
  const file = tempFile("openloop.json", JSON.stringify(config))
  const [command, ...args] = withOpenFiles(
    OPEN_FILES,
    pin(LOAD_CPU, [process.execPath, join(ROOT, "bench/support/openloop.ts"), file])
  )
  const { stdout } = await execFileAsync(command!, args, { encoding: "utf8", maxBuffer: 1 << 26 })
  return JSON.parse(stdout) as OpenLoopReport
}

const non2xxOf = (summary: LatencySummary) => Object.values(summary.statuses).reduce((a, b) => a + b, 0)

const statusText = (summary: LatencySummary) =>
  Object.entries(summary.statuses)
    .map(([status, count]) => `${count}×${status}`)
    .join(" ")

const openSample = (
  run: Awaited<ReturnType<typeof measure<OpenLoopReport>>>,
  pick: (report: OpenLoopReport) => LatencySummary
): Sample => {
  const summary = pick(run.result)
  const statuses = statusText(summary)
  return {
    // Answers per second of the schedule: requests that failed or stayed unanswered do not count.
    rps: (summary.count - summary.errors) / run.result.seconds,
    requests: summary.count,
    p50Ms: summary.p50Ms,
    p99Ms: summary.p99Ms,
    p999Ms: summary.p999Ms,
    errors: summary.errors,
    non2xx: non2xxOf(summary),
    cpuUsPerRequest: (run.cpuMs * 1000) / run.result.all.count,
    peakRssMb: run.peakRssMb,
    note: `${statuses.length === 0 ? "" : `${statuses}; `}generator lag ≤ ${fmt(run.result.maxSendLagMs)} ms, ${run.result.connectionsOpened} conns`
  }
}

// --- per-server state ------------------------------------------------------------------------------

interface Target {
  readonly id: "focusforge" | "peer"
  readonly label: string
  readonly spec: ServerSpec
  server?: Running
  readyMs: Array<number>
  idleRssMb: number
  users: Array<BenchUser>
  mixUsers: Array<BenchUser>
  tokensFile: string
  commandRuns: Array<{ tasks: ReadonlyArray<ReadonlyArray<BenchTask>>; run: CommandRun }>
  verification?: Verification
}

/** Spawn to "Listening on" (the harness polls its output every 50 ms: ±50 ms). */
const startTimed = async (spec: ServerSpec) => {
  const started = performance.now()
  const server = await startServerProcess(spec)
  return { server, readyMs: performance.now() - started }
}

const openLoopUsers = (
  users: ReadonlyArray<BenchUser>,
  tasks: ReadonlyArray<ReadonlyArray<BenchTask>> | undefined
): Array<OpenLoopUser> =>
  users.map((user, u) => ({
    token: user.token,
    email: user.email,
    password: PASSWORD,
    blocks: (tasks?.[u] ?? []).flatMap((task) => task.blocks.map((block) => ({ task: task.id, block })))
  }))

// --- rows --------------------------------------------------------------------------------------------

interface Row {
  readonly id: string
  readonly label: string
  readonly run: (target: Target, round: number) => Promise<Sample>
}

const bearerWrk = (target: Target, path: string, seconds: number, body?: string) =>
  wrk({
    url: `${target.server!.url}${path}`,
    seconds,
    connections: CONNECTIONS,
    script: "bench/lua/bearer.lua",
    scriptArgs: [
      `tokens=${target.tokensFile}`,
      `paths=${path}`,
      ...(body === undefined ? [] : [`body=${body}`])
    ],
    openFiles: OPEN_FILES
  })

const failedOf = (text: string) => Number(luaReport(text).failed ?? 0)

const MOOD_BODY = '{"score":7,"energy":6,"stress":3,"note":"bench"}'

/** Tasks for every user before a command-path or mix run (untimed), sized for the fastest server. */
const commandTasksPerUser = () => Math.ceil((12_000 * SECONDS) / (USERS * 2 * BLOCKS_PER_TASK)) + 1

const rows: Array<Row> = [
  {
    id: "read",
    label: `(a) authenticated read \`GET /api/v1/store/profile\`, wrk c=${CONNECTIONS}`,
    run: async (target) => {
      const run = await measure(target.server!, () => bearerWrk(target, "/api/v1/store/profile", SECONDS))
      return wrkSample(run, failedOf(run.result.text))
    }
  },
  {
    id: "write",
    label: `(b) authenticated write \`POST /api/v1/mood\`, wrk c=${CONNECTIONS}`,
    run: async (target) => {
      const run = await measure(target.server!, () => bearerWrk(target, "/api/v1/mood", SECONDS, MOOD_BODY))
      return wrkSample(run, failedOf(run.result.text))
    }
  },
  {
    id: "commands",
    label: `(c) command path: block start + complete, wallet credited, wrk c=${CONNECTIONS} (commands/s)`,
    run: async (target, round) => {
      const url = target.server!.url
      const tasks = await createTasks(url, target.users, commandTasksPerUser(), `r${round}`, BLOCKS_PER_TASK)
      const run = await measure(target.server!, () =>
        runCommands(url, SECONDS, dataFile(target.users, tasks), CONNECTIONS, OPEN_FILES)
      )
      target.commandRuns.push({ tasks, run: run.result })
      const commands = run.result.startOk + run.result.completeOk
      const seconds = run.result.wrk.requests / run.result.wrk.rps
      const sample = wrkSample({ ...run, result: run.result.wrk }, run.result.failed)
      return {
        ...sample,
        rps: (commands + run.result.failed) / seconds,
        note: `${fmt(commands)} answered 2xx, starved ${run.result.starved}`
      }
    }
  },
  {
    id: "mix",
    label: `(d) open loop, ${RATE} req/s over ≤ ${OPEN_CONNECTIONS} connections: 70 % reads, 28 % writes, 2 % logins`,
    run: async (target, round) => mixRun(target, round, MIX, 1)
  },
  {
    id: "mix-nologin",
    label: `(d′) the same open loop with its 2 % logins replaced by reads`,
    run: async (target, round) => mixRun(target, round, MIX_WITHOUT_LOGINS, 2)
  },
  {
    id: "reads-calm",
    label: `(e) authenticated reads, open loop ${STORM_RATE} req/s, no logins`,
    run: async (target, round) => stormRun(target, round, 0)
  },
  {
    id: "reads-storm",
    label: `(e) the same reads during ${STORM} concurrent logins`,
    run: async (target, round) => stormRun(target, round, STORM)
  }
]

const mixRun = async (target: Target, round: number, mix: OpenLoopConfig["mix"], seedOffset: number) => {
  // One fresh 24-block task per user and run: the block steps of the mix work through it.
  const tasks = await createTasks(target.server!.url, target.mixUsers, 1, `mix${round}`, BLOCKS_PER_TASK)
  const run = await measure(target.server!, () =>
    openLoop({
      url: target.server!.url,
      rate: RATE,
      seconds: SECONDS,
      connections: OPEN_CONNECTIONS,
      drainSeconds: 10,
      users: openLoopUsers(target.mixUsers, tasks),
      mix,
      seed: 1000 * round + seedOffset
    })
  )
  const sample = openSample(run, (r) => r.all)
  const cls = (name: string) => run.result.byClass[name]
  const parts = ["read", "write", "login"]
    .filter((name) => cls(name) !== undefined)
    .map((name) => `${name} p99 ${fmt(cls(name)!.p99Ms, 1)}`)
    .join(", ")
  return { ...sample, note: `${parts}; ${sample.note}; block starved ${run.result.blockStarved}` }
}

const stormRun = async (target: Target, round: number, logins: number) => {
  const run = await measure(target.server!, () =>
    openLoop({
      url: target.server!.url,
      rate: STORM_RATE,
      seconds: SECONDS,
      connections: CONNECTIONS,
      drainSeconds: 10,
      users: openLoopUsers(target.users, undefined),
      mix: [{ kind: "profile", weight: 1 }],
      concurrentLogins: logins,
      seed: 2000 * round + logins
    })
  )
  const sample = openSample(run, (r) => r.all)
  const storm = run.result.storm
  return {
    ...sample,
    // CPU per request counts the logins too: the server did both.
    cpuUsPerRequest: (run.cpuMs * 1000) / (run.result.all.count + (storm?.count ?? 0)),
    note:
      storm === undefined
        ? sample.note!
        : `logins ${fmt(storm.count / SECONDS, 1)}/s (${storm.ok} ok${statusText(storm).length > 0 ? `, ${statusText(storm)}` : ""}, ${storm.errors} errors, p50 ${fmt(storm.p50Ms)} ms); ${sample.note}`
  }
}

// --- profile: self time by source file through the bundle's source maps -----------------------------

interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number
    readonly callFrame: {
      readonly functionName: string
      readonly url: string
      readonly lineNumber: number
      readonly columnNumber: number
    }
    readonly children?: ReadonlyArray<number>
  }>
  readonly startTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** Maps a bundle position to its source file (relative to the repository), through `<chunk>.map`. */
const sourceResolver = () => {
  const maps = new Map<string, SourceMap | null>()
  const mapOf = (path: string) => {
    if (!maps.has(path)) {
      try {
        maps.set(path, new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8"))))
      } catch {
        maps.set(path, null)
      }
    }
    return maps.get(path) ?? null
  }
  return (url: string, line: number, column: number): string => {
    if (!url.startsWith("file://")) return url === "" ? "(native / V8)" : url
    const path = new URL(url).pathname
    const map = mapOf(path)
    const entry = map?.findEntry(line, column)
    const source = entry !== undefined && "originalSource" in entry ? entry.originalSource : undefined
    if (source === undefined) return relative(ROOT, path)
    const absolute = source.startsWith("file://") ? new URL(source).pathname : resolve(dirname(path), source)
    // node_modules is a symlink here: name a dependency's file by its package path, not by where it lives.
    const dependency = absolute.indexOf("/node_modules/")
    return dependency === -1 ? relative(ROOT, absolute) : absolute.slice(dependency + 1)
  }
}

/** Self time per source file over the samples in [fromMicros, toMicros], top `limit`. */
const selfTimeByFile = (
  cpuProfile: CpuProfile,
  window: { fromMicros: number; toMicros: number },
  requests: number,
  limit: number
) => {
  const resolveSource = sourceResolver()
  const byId = new Map(cpuProfile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of cpuProfile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const SPECIAL = new Set(["(garbage collector)", "(program)", "(idle)", "(root)"])
  /**
   * A JavaScript frame's own file; a native frame (no URL: SQLite's C code, HMAC, JSON) is billed to the
   * nearest JavaScript caller's file, marked "(native)", so the file that asked for the work shows it.
   */
  const fileOfNode = (id: number): string => {
    const { functionName, url, lineNumber, columnNumber } = byId.get(id)!.callFrame
    if (SPECIAL.has(functionName)) return functionName
    if (url !== "") return resolveSource(url, lineNumber, columnNumber)
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame
      if (frame.url !== "")
        return `${resolveSource(frame.url, frame.lineNumber, frame.columnNumber)} (native)`
    }
    return "(native, no JavaScript caller)"
  }
  const fileOf = new Map<number, string>()
  for (const node of cpuProfile.nodes) fileOf.set(node.id, fileOfNode(node.id))
  const micros = new Map<string, number>()
  let at = cpuProfile.startTime
  let busy = 0
  for (let i = 0; i < cpuProfile.samples.length; i++) {
    at += cpuProfile.timeDeltas[i] ?? 0
    if (at < window.fromMicros || at > window.toMicros) continue
    const file = fileOf.get(cpuProfile.samples[i]!) ?? "?"
    const delta = cpuProfile.timeDeltas[i + 1] ?? 0
    if (file !== "(idle)") busy += delta
    micros.set(file, (micros.get(file) ?? 0) + delta)
  }
  const top = [...micros].filter(([file]) => file !== "(idle)").sort((a, b) => b[1] - a[1])
  return {
    busyUsPerRequest: busy / requests,
    idleShare: (micros.get("(idle)") ?? 0) / (busy + (micros.get("(idle)") ?? 0)),
    lines: top.slice(0, limit).map(([file, us]) => ({
      file,
      usPerRequest: us / requests,
      share: us / busy
    }))
  }
}

const runProfile = async (sinkUrl: string) => {
  const profileDir = mkdtempSync(join(Os.tmpdir(), "focusforge-peer-prof-"))
  const target = makeTargets(sinkUrl, ["--cpu-prof", `--cpu-prof-dir=${profileDir}`])[0]!
  const { server } = await startTimed(target.spec)
  target.server = server
  const windows: Array<{ id: string; window: { fromMicros: number; toMicros: number }; requests: number }> =
    []
  try {
    await setupUsers(target, false)
    for (const row of rows.filter((r) => ["read", "write", "commands"].includes(r.id))) {
      // Warm-up outside the window, then the measured run, whose window the profile is cut to.
      if (row.id !== "commands")
        await bearerWrk(
          target,
          row.id === "read" ? "/api/v1/store/profile" : "/api/v1/mood",
          WARMUP_SECONDS,
          row.id === "read" ? undefined : MOOD_BODY
        )
      await settle(target.server!)
      const sample = await row.run(target, 0)
      windows.push({ id: row.id, window: sample.window!, requests: sample.requests })
      console.log(`profiled ${row.id}: ${fmt(sample.rps)} req/s, p99 ${fmt(sample.p99Ms, 1)} ms`)
    }
  } finally {
    await server.stop()
  }
  const file = readdirSync(profileDir).find((name) => name.endsWith(".cpuprofile"))
  if (file === undefined) throw new Error(`no .cpuprofile in ${profileDir}`)
  const cpuProfile = JSON.parse(readFileSync(join(profileDir, file), "utf8")) as CpuProfile
  writeFileSync(join(profileDir, "windows.json"), JSON.stringify(windows))
  const tables = windows.map(({ id, window, requests }) => {
    const analysis = selfTimeByFile(cpuProfile, window, requests, 30)
    const lines = analysis.lines
      .map((l) => `| \`${l.file}\` | ${fmt(l.usPerRequest, 1)} | ${fmt(100 * l.share, 1)} % |`)
      .join("\n")
    return `### ${rows.find((r) => r.id === id)!.label}

${fmt(analysis.busyUsPerRequest, 1)} µs of samples per request (event loop idle ${fmt(100 * analysis.idleShare, 1)} % of the window), ${fmt(requests)} requests.

| source file (self time) | µs per request | share |
|---|---:|---:|
${lines}`
  })
  const section = `## FocusForge's request path by source file (\`bench/peer.ts --profile\`)

\`npx tsx bench/peer.ts --profile\`: FocusForge alone, \`node --cpu-prof\` on \`dist/main.mjs\` (same settings as the
peer rows; the profiler's overhead is in every number), one run per row after a ${WARMUP_SECONDS} s warm-up. Each sample's
leaf frame (self time) is mapped through the bundle's source map (\`dist/**/*.mjs.map\`, written by
\`scripts/bundle.mjs\`) to the source file it came from; a native leaf (SQLite's C code, HMAC, JSON; no URL) is
billed to its nearest JavaScript caller's file, marked "(native)"; samples outside the row's window are left out. The
profile is kept in \`${join(profileDir, file)}\` (windows in \`windows.json\`).

${tables.join("\n\n")}

Machine: ${machine()}; load average ${loadAverage()}. ${new Date().toISOString()}.`
  writeSection("peer-profile", section)
  console.log(`\n${section}`)
}

// --- setup -------------------------------------------------------------------------------------------

const makeTargets = (sinkUrl: string, focusForgeNodeArgs: ReadonlyArray<string> = []): Array<Target> => {
  // A function, not one object: each target needs arrays of its own.
  const blank = () => ({
    readyMs: [],
    idleRssMb: Number.NaN,
    users: [],
    mixUsers: [],
    tokensFile: "",
    commandRuns: []
  })
  return [
    {
      ...blank(),
      id: "focusforge",
      label: "FocusForge",
      spec: {
        id: "focusforge",
        script: "dist/main.mjs",
        env: {
          MONITORING: "on",
          OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
          OTEL_TRACES_SAMPLER_ARG: SAMPLER,
          // One loopback address stands for hundreds of clients here, as nginx's does in production,
          // where the per-address cap is off too (docker-compose.production.yml).
          MAX_CONNECTIONS_PER_ADDRESS: "0"
        },
        describe: "node dist/main.mjs",
        openFiles: OPEN_FILES,
        nodeArgs: focusForgeNodeArgs
      }
    },
    {
      ...blank(),
      id: "peer",
      label: "Fastify + SQLite peer",
      spec: {
        id: "peer",
        script: "bench/servers/peer-fastify.mjs",
        env: {},
        describe: "node bench/servers/peer-fastify.mjs",
        openFiles: OPEN_FILES
      }
    }
  ]
}

/** The load users (rows a–c, e) and, unless only those are needed (the profile), the mix's users. */
const setupUsers = async (target: Target, withMix = true) => {
  const url = target.server!.url
  const stamp = `${target.id}-${Date.now()}`
  target.users = await registerUsers(url, USERS, `peer-load-${stamp}`)
  if (withMix) target.mixUsers = await registerUsers(url, MIX_USERS, `peer-mix-${stamp}`)
  target.tokensFile = tempFile("tokens.txt", `${target.users.map((u) => u.token).join("\n")}\n`)
}

// --- report ------------------------------------------------------------------------------------------

type Results = Map<string, Map<Target["id"], Array<Sample>>>

const medianOf = (samples: ReadonlyArray<Sample>, f: (s: Sample) => number) => median(samples.map(f))

const report = (
  targets: ReadonlyArray<Target>,
  results: Results,
  sinkExports: number,
  loadBefore: string
) => {
  const [ff, peer] = targets as [Target, Target]
  const get = (row: string, id: Target["id"]) => results.get(row)!.get(id)!
  const line = (row: Row, target: Target) => {
    const s = get(row.id, target.id)
    const sum = (f: (s: Sample) => number) => s.reduce((total, x) => total + f(x), 0)
    return `| ${target.label} | ${fmt(medianOf(s, (x) => x.rps))} | ${fmt(
      medianOf(s, (x) => x.p50Ms),
      1
    )} | ${fmt(
      medianOf(s, (x) => x.p99Ms),
      1
    )} | ${fmt(
      medianOf(s, (x) => x.p999Ms),
      1
    )} | ${sum((x) => x.errors)} | ${sum((x) => x.non2xx)} | ${fmt(medianOf(s, (x) => x.cpuUsPerRequest))} | ${fmt(Math.max(...s.map((x) => x.peakRssMb)))} |`
  }
  const ratio = (row: string, f: (s: Sample) => number) =>
    medianOf(get(row, "focusforge"), f) / medianOf(get(row, "peer"), f)
  const tables = rows
    .map(
      (row) => `**${row.label}** — FocusForge ÷ peer: ${fmt(
        ratio(row.id, (s) => s.rps),
        2
      )}× req/s, ${fmt(
        ratio(row.id, (s) => s.p99Ms),
        1
      )}× p99, ${fmt(
        ratio(row.id, (s) => s.cpuUsPerRequest),
        1
      )}× CPU per request

| server | req/s | p50 ms | p99 ms | p99.9 ms | errors | non-2xx | CPU µs/req | peak RSS MB |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${line(row, ff)}
${line(row, peer)}`
    )
    .join("\n\n")
  const raw = rows
    .flatMap((row) =>
      targets.map(
        (target) =>
          `| ${row.id} | ${target.id} | ${get(row.id, target.id)
            .map(
              (s) =>
                `${fmt(s.rps)} req/s, p50 ${fmt(s.p50Ms, 1)} / p99 ${fmt(s.p99Ms, 1)} / p99.9 ${fmt(s.p999Ms, 1)} ms, ${s.errors} err, ${s.non2xx} non-2xx, ${fmt(s.cpuUsPerRequest)} µs, ${fmt(s.peakRssMb)} MB${s.note === undefined ? "" : ` (${s.note})`}`
            )
            .join("<br>")} |`
      )
    )
    .join("\n")

  const m = (row: string, id: Target["id"], f: (s: Sample) => number) => medianOf(get(row, id), f)
  const errorsOf = (row: string) => get(row, "focusforge").reduce((t, s) => t + s.errors + s.non2xx, 0)
  const peakFf = Math.max(...rows.flatMap((row) => get(row.id, "focusforge").map((s) => s.peakRssMb)))
  const integrity = (v: Verification | undefined) =>
    v === undefined ? Number.NaN : v.lost + v.phantom + v.unpaid + v.overpaid + v.walletMismatches
  const verdict = (met: boolean) => (met ? "**met**" : "**not met**")
  const readRatio = ratio("read", (s) => s.rps)
  const readP99 = m("read", "focusforge", (s) => s.p99Ms)
  const writeRatio = ratio("write", (s) => s.rps)
  const writeP99 = m("write", "focusforge", (s) => s.p99Ms)
  const writeBound = Math.max(
    50,
    m("write", "peer", (s) => s.p99Ms)
  )
  const commandRate = m("commands", "focusforge", (s) => s.rps)
  const mixP99 = m("mix", "focusforge", (s) => s.p99Ms)
  const ffReady = median(ff.readyMs)
  const targetsTable = `| target | FocusForge | peer | verdict |
|---|---|---|---|
| (a) read ≥ 0.5 × peer req/s, p99 ≤ 50 ms | ${fmt(readRatio, 2)} ×, p99 ${fmt(readP99, 1)} ms | p99 ${fmt(
    m("read", "peer", (s) => s.p99Ms),
    1
  )} ms | ${verdict(readRatio >= 0.5 && readP99 <= 50)} |
| (b) write ≥ 0.5 × peer req/s, p99 ≤ max(50 ms, peer p99) = ${fmt(writeBound, 1)} ms | ${fmt(writeRatio, 2)} ×, p99 ${fmt(writeP99, 1)} ms | p99 ${fmt(
    m("write", "peer", (s) => s.p99Ms),
    1
  )} ms | ${verdict(writeRatio >= 0.5 && writeP99 <= writeBound)} |
| (c) command path ≥ 3,000 commands/s, every wallet exact | ${fmt(commandRate)} /s, ${integrity(ff.verification)} discrepancies | ${fmt(m("commands", "peer", (s) => s.rps))} /s, ${integrity(peer.verification)} discrepancies | ${verdict(commandRate >= 3000 && integrity(ff.verification) === 0)} |
| (d) open loop ${RATE} req/s: p99 < 50 ms, zero errors | p99 ${fmt(mixP99, 1)} ms, ${errorsOf("mix")} errors + non-2xx | p99 ${fmt(
    m("mix", "peer", (s) => s.p99Ms),
    1
  )} ms, ${get("mix", "peer").reduce((t, s) => t + s.errors + s.non2xx, 0)} | ${verdict(mixP99 < 50 && errorsOf("mix") === 0)} |
| (d′) the same without logins (not a target: shows what the logins cost) | p99 ${fmt(
    m("mix-nologin", "focusforge", (s) => s.p99Ms),
    1
  )} ms, ${errorsOf("mix-nologin")} errors + non-2xx | p99 ${fmt(
    m("mix-nologin", "peer", (s) => s.p99Ms),
    1
  )} ms | – |
| (e) read p99 during ${STORM} logins vs none (issue 16; a row, not a target) | ${fmt(
    m("reads-storm", "focusforge", (s) => s.p99Ms),
    1
  )} vs ${fmt(
    m("reads-calm", "focusforge", (s) => s.p99Ms),
    1
  )} ms | ${fmt(
    m("reads-storm", "peer", (s) => s.p99Ms),
    1
  )} vs ${fmt(
    m("reads-calm", "peer", (s) => s.p99Ms),
    1
  )} ms | – |
| peak RSS ≤ 200 MB | ${fmt(peakFf)} MB | ${fmt(Math.max(...rows.flatMap((row) => get(row.id, "peer").map((s) => s.peakRssMb))))} MB | ${verdict(peakFf <= 200)} |
| ready after spawn < 1 s | ${fmt(ffReady)} ms | ${fmt(median(peer.readyMs))} ms | ${verdict(ffReady < 1000)} |
| idle RSS < 110 MB | ${fmt(ff.idleRssMb)} MB | ${fmt(peer.idleRssMb)} MB | ${verdict(ff.idleRssMb < 110)} |`

  const verification = (target: Target) => {
    const v = target.verification
    if (v === undefined) return `${target.label}: not verified`
    return `${target.label}: ${fmt(v.completedBlocks)} blocks completed over ${ROUNDS} rounds (${fmt(v.expectedBlocks)} answered 2xx, ${v.inDoubtCompleted} completed by a request unanswered when wrk stopped); lost ${v.lost}, phantom ${v.phantom}, unpaid ${v.unpaid}, paid twice ${v.overpaid}, wallet mismatches ${v.walletMismatches}; tokens ${fmt(v.blockTokens)} for blocks + ${fmt(v.bonusTokens)} bonuses = ${fmt(v.walletBalance)} in the wallets${v.problems.length > 0 ? `; first problems: ${v.problems.slice(0, 3).join("; ")}` : ""}`
  }

  return `## FocusForge beside a conventional Fastify + SQLite service (\`bench/peer.ts\`)

\`npx tsx bench/peer.ts\` (or \`npm run bench -- peer\`). **FocusForge**: \`node dist/main.mjs\` (\`npm run build\`),
embedded SQLite in a fresh \`DATA_DIR\`, \`NODE_ENV=production\`, monitoring on, tracing on at the production
sampling ratio \`OTEL_TRACES_SAMPLER_ARG=${SAMPLER}\`, exported over OTLP/HTTP to a loopback sink in the bench process
(${sinkExports} exports received), \`MAX_CONNECTIONS_PER_ADDRESS=0\` (one loopback address stands for every client, as nginx's
does in production, where the cap is off too). **Peer**: \`node bench/servers/peer-fastify.mjs\`, what a user would write
instead: Fastify 5, \`node:sqlite\` \`DatabaseSync\` in WAL mode (\`synchronous = NORMAL\`, FocusForge's setting),
JSON Schema validation of bodies, a bearer HS256 JWT verified with fast-jwt on every authenticated request and
the account looked up with two SQLite statements (exists; token id not revoked), argon2id at OWASP's
parameters (19 MiB, t=2, p=1) with @node-rs/argon2, the same paths and JSON shapes, the wallet credited by
FocusForge's token rules in the block completion's own transaction. It has no metrics, no tracing, no event
log, no login throttling, no password-strength check: the comparison is with the plain service a user could
choose instead, not with an equal feature set.

**Method.** Both servers ${pinned ? "pinned to core 0 (`taskset -c 0`)" : "unpinned (taskset or a second core missing)"}, the load generators on core
1, \`RLIMIT_NOFILE\` ${openFilesFor(OPEN_FILES)}, loopback only. Each server is spawned ${ROUNDS} times first for its ready time
(spawn to its "Listening on" line; ±50 ms polling) and stopped; then one instance of each runs the rounds; its
idle RSS is read 2 s after start, before any request. Setup (not timed): ${USERS} users registered and logged in
for rows (a)–(c) and (e), ${MIX_USERS} for (d). ${ROUNDS} rounds; in each, every row runs on both servers one after
the other (which goes first alternates by round), after a ${WARMUP_SECONDS} s warm-up of (a) and (b) in the first round; the
tables show medians over the rounds, errors and non-2xx summed. Before every run the bench waits until the
server is idle (under 5 % of a core over 500 ms, at most 60 s): a row can leave work queued behind it, such as
login hashes whose clients gave up, that would otherwise be billed to the next row. Rows (a)–(c) are closed loops,
\`wrk -t1 -c${CONNECTIONS} -d${SECONDS}s\`: (a) and (b) with \`bench/lua/bearer.lua\` rotating the ${USERS} users' tokens (the write
posts \`${MOOD_BODY}\`); (c) with \`bench/lua/commands.lua\`: each user starts and completes its blocks in order,
one request in flight per user, on ${commandTasksPerUser()} fresh tasks of ${BLOCKS_PER_TASK} blocks per user and round; every request is a
command, a completion also credits the wallet. After the last round every user's tasks, ledger
(\`GET /store/transactions\`) and wallet (\`GET /store/profile\`) are read back through the API and checked
(bench/support/commandPath.ts): every block answered 2xx completed and paid exactly once, each wallet equal to its
ledger. Rows (d) and (e) are **open loops** (\`bench/support/openloop.ts\`, its own process on core 1): requests
leave on a fixed schedule (${RATE} req/s for (d), ${STORM_RATE} req/s for (e)) whatever the server does, over a
node:http keep-alive Agent of at most ${OPEN_CONNECTIONS} connections for (d) (${CONNECTIONS} for (e)); a request whose time comes while
every connection is busy waits in the Agent's queue, and every latency is measured from the request's **intended**
send time, so a stall shows as tail latency instead of fewer requests (no coordinated omission). The generator's
own worst lag behind its schedule is listed per run. The (d) mix is drawn from a seeded generator (same sequence
for both servers): 24 % \`GET /store/profile\`, 23 % \`GET /tasks/dashboard\`, 23 % \`GET /tasks?limit=20\`, 14 %
\`POST /mood\`, 14 % block steps (each user works through a fresh ${BLOCKS_PER_TASK}-block task, start then complete, one step
in flight per user), 2 % \`POST /auth/login\` spread round-robin over the ${MIX_USERS} users (a 429 from FocusForge's login
throttle would count as non-2xx); (d′) replaces the logins by profile reads. (e) sends profile reads at ${STORM_RATE} req/s
with nothing else, then with ${STORM} closed-loop login workers (each logs in, waits for the answer, logs in again; told 503/429 with \`Retry-After\`, it waits that long first, as the app does)
on their own connections: issue 16's "latency of authenticated reads during 300 concurrent logins". CPU per
request is the server's utime + stime delta from \`/proc/<pid>/stat\` over the run ÷ requests answered (for (e)
including the logins); peak RSS is the highest \`VmRSS\` sampled every 250 ms during the run (the
tables show the highest over the rounds).

### Targets (issue 17)

${targetsTable}

### Rows (medians of ${ROUNDS} rounds)

${tables}

| | FocusForge | peer |
|---|---:|---:|
| ready after spawn, median ms (each spawn) | ${fmt(ffReady)} (${ff.readyMs.map((x) => fmt(x)).join(", ")}) | ${fmt(median(peer.readyMs))} (${peer.readyMs.map((x) => fmt(x)).join(", ")}) |
| idle RSS MB | ${fmt(ff.idleRssMb)} | ${fmt(peer.idleRssMb)} |

Command-path verification: ${verification(ff)}. ${verification(peer)}.

### Each round's raw numbers

| row | server | rounds |
|---|---|---|
${raw}

Machine: ${machine()}; load average ${loadBefore} before and ${loadAverage()} after (the machine is shared
with other jobs: read the ratios, measured seconds apart, rather than the absolute rates). ${new Date().toISOString()}.`
}

// --- the run -------------------------------------------------------------------------------------------

const main = async () => {
  if (build) buildServers()
  const sink = await startSink()
  try {
    if (profile) {
      await runProfile(sink.url)
      return
    }
    const targets = makeTargets(sink.url)
    for (let i = 0; i < ROUNDS; i++) {
      for (const target of targets) {
        const { server, readyMs } = await startTimed(target.spec)
        target.readyMs.push(readyMs)
        await server.stop()
      }
    }
    const loadBefore = loadAverage()
    const results: Results = new Map(rows.map((row) => [row.id, new Map(targets.map((t) => [t.id, []]))]))
    try {
      for (const target of targets) target.server = (await startTimed(target.spec)).server
      await sleep(2_000)
      for (const target of targets) target.idleRssMb = rssMb(target.server!.child.pid!)
      for (const target of targets) {
        console.log(`setup: ${USERS + MIX_USERS} users on ${target.id}`)
        await setupUsers(target)
        await bearerWrk(target, "/api/v1/store/profile", WARMUP_SECONDS)
        await bearerWrk(target, "/api/v1/mood", WARMUP_SECONDS, MOOD_BODY)
      }
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? targets : [...targets].reverse()
        for (const row of rows) {
          for (const target of order) {
            const waited = await settle(target.server!)
            if (waited > 1_000)
              console.log(`  (${target.id} busy after the previous row: waited ${fmt(waited / 1000, 1)} s)`)
            const sample = await row.run(target, round)
            results.get(row.id)!.get(target.id)!.push(sample)
            console.log(
              `round ${round + 1} ${row.id.padEnd(12)} ${target.id.padEnd(10)} ${fmt(sample.rps).padStart(7)} req/s  p50 ${fmt(sample.p50Ms, 1)}  p99 ${fmt(sample.p99Ms, 1)}  p99.9 ${fmt(sample.p999Ms, 1)} ms  errors ${sample.errors}  non-2xx ${sample.non2xx}  ${fmt(sample.cpuUsPerRequest)} µs/req  peak ${fmt(sample.peakRssMb)} MB${sample.note === undefined ? "" : `  (${sample.note})`}`
            )
          }
        }
      }
      for (const target of targets) {
        await sleep(3_000)
        const tokensSeen = target.commandRuns.reduce((total, r) => total + r.run.tokens, 0)
        target.verification = await verify(target.server!.url, target.users, target.commandRuns, tokensSeen)
        console.log(`${target.id} verification: ${JSON.stringify(target.verification)}`)
      }
    } finally {
      await Promise.all(targets.map((target) => target.server?.stop()))
    }
    const section = report(targets, results, sink.exports(), loadBefore)
    writeSection("peer", section)
    console.log(`\n${section}`)
  } finally {
    await sink.close()
  }
}

await main()
