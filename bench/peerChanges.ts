/**
 * Before/after of one change on FocusForge's request path (issue 17, item 2), side by side in one run:
 * an older bundle (BENCH_BEFORE_DIR, made by `node scripts/bundle.mjs --outdir <dir>` from the old
 * checkout; a directory inside the repository, e.g. .perf/before, so its externals resolve) and
 * today's dist/, started with bench/peer.ts's settings (monitoring on, OTLP tracing at the production
 * sampling ratio to a loopback sink), pinned as there, run alternately in ROUNDS rounds; medians.
 *
 * Rows: bench/peer.ts's (a) read, (b) write and (c) command path, chosen with BENCH_ROWS. Prints
 * req/s and server CPU µs per request per build; `--section <label>` also appends the result as one
 * entry of BENCHMARKS.md's `peer-changes` section (kept between runs: each change adds its own line).
 *
 *   BENCH_BEFORE_DIR=.perf/before npx tsx bench/peerChanges.ts [--no-build] [--section "label"]
 *   BENCH_BEFORE_SCRIPT (instead of BENCH_BEFORE_DIR: e.g. bench/servers/peer-fastify.mjs), BENCH_AFTER_DIR (dist/), BENCH_SECONDS (4), BENCH_ROUNDS (1), BENCH_ROWS (read,write,commands),
 *   BENCH_USERS (200)
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { createTasks, dataFile, runCommands } from "./support/commandPath.ts"
import {
  cpuMs,
  fmt,
  luaReport,
  median,
  ROOT,
  type Running,
  registerUsers,
  type ServerSpec,
  sleep,
  startServerProcess,
  startSink,
  tempFile,
  wrk,
  writeSection
} from "./support/harness.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1)
const ROWS = (process.env.BENCH_ROWS ?? "read,write,commands").split(",")
const USERS = Number(process.env.BENCH_USERS ?? 200)
const BEFORE_DIR = process.env.BENCH_BEFORE_DIR
/** The build under test: dist/ (rebuilt first unless --no-build), or another bundle directory. */
const AFTER_DIR = process.env.BENCH_AFTER_DIR
const CONNECTIONS = 100
const OPEN_FILES = 65_536
const BLOCKS_PER_TASK = 24
const MOOD_BODY = '{"score":7,"energy":6,"stress":3,"note":"bench"}'
const sectionAt = process.argv.indexOf("--section")
const sectionLabel = sectionAt === -1 ? undefined : process.argv[sectionAt + 1]

/** Instead of an old build, another server script as the "before" side: the peer, for the ratios. */
const BEFORE_SCRIPT = process.env.BENCH_BEFORE_SCRIPT

if (BEFORE_DIR === undefined && BEFORE_SCRIPT === undefined)
  throw new Error("BENCH_BEFORE_DIR (a bundle of the old build) or BENCH_BEFORE_SCRIPT is required")

interface Build {
  readonly id: "before" | "after"
  readonly script: string
  server?: Running
  tokensFile: string
  users: Awaited<ReturnType<typeof registerUsers>>
}

interface Sample {
  readonly rps: number
  readonly cpuUsPerRequest: number
  readonly p99Ms: number
}

const spec = (build: Build, sinkUrl: string): ServerSpec => ({
  id: build.id,
  script: build.script,
  env: { MONITORING: "on", OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl, OTEL_TRACES_SAMPLER_ARG: "0.1" },
  describe: `node ${build.script}`,
  openFiles: OPEN_FILES
})

const bearer = (build: Build, path: string, seconds: number, body?: string) =>
  wrk({
    url: `${build.server!.url}${path}`,
    seconds,
    connections: CONNECTIONS,
    script: "bench/lua/bearer.lua",
    scriptArgs: [
      `tokens=${build.tokensFile}`,
      `paths=${path}`,
      ...(body === undefined ? [] : [`body=${body}`])
    ],
    openFiles: OPEN_FILES
  })

/** One measured run of `row` against `build`: the server's CPU time over the requests it answered. */
const runRow = async (build: Build, row: string, round: number): Promise<Sample> => {
  const pid = build.server!.child.pid!
  if (row === "commands") {
    const url = build.server!.url
    const tasks = await createTasks(url, build.users, 3, `c${round}`, BLOCKS_PER_TASK)
    const data = dataFile(build.users, tasks)
    const before = cpuMs(pid)
    const run = await runCommands(url, SECONDS, data, CONNECTIONS, OPEN_FILES)
    const cpu = cpuMs(pid) - before
    const commands = run.startOk + run.completeOk + run.failed
    return {
      rps: commands / (run.wrk.requests / run.wrk.rps),
      cpuUsPerRequest: (cpu * 1000) / run.wrk.requests,
      p99Ms: run.wrk.p99Ms
    }
  }
  const path = row === "read" ? "/api/v1/store/profile" : "/api/v1/mood"
  const body = row === "read" ? undefined : MOOD_BODY
  await bearer(build, path, 1, body)
  await sleep(300)
  const before = cpuMs(pid)
  const result = await bearer(build, path, SECONDS, body)
  const cpu = cpuMs(pid) - before
  const failed = Number(luaReport(result.text).failed ?? 0)
  if (failed > 0) console.error(`${build.id} ${row}: ${failed} non-2xx`)
  return { rps: result.rps, cpuUsPerRequest: (cpu * 1000) / result.requests, p99Ms: result.p99Ms }
}

const main = async () => {
  if (AFTER_DIR === undefined && !process.argv.includes("--no-build")) {
    execFileSync(process.execPath, [join(ROOT, "scripts/bundle.mjs")], { cwd: ROOT, stdio: "inherit" })
  }
  const sink = await startSink()
  const builds: Array<Build> = [
    { id: "before", script: BEFORE_SCRIPT ?? join(BEFORE_DIR ?? "", "main.mjs"), tokensFile: "", users: [] },
    { id: "after", script: join(AFTER_DIR ?? "dist", "main.mjs"), tokensFile: "", users: [] }
  ]
  const samples = new Map<string, Array<Sample>>()
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        build.server = await startServerProcess(spec(build, sink.url))
        try {
          build.users = await registerUsers(build.server.url, USERS, `chg-${build.id}-${Date.now()}`)
          build.tokensFile = tempFile("tokens.txt", `${build.users.map((u) => u.token).join("\n")}\n`)
          for (const row of ROWS) {
            const sample = await runRow(build, row, round)
            const key = `${row}/${build.id}`
            samples.set(key, [...(samples.get(key) ?? []), sample])
            console.log(
              `${key}: ${fmt(sample.rps)} req/s, ${fmt(sample.cpuUsPerRequest, 1)} µs CPU/req, p99 ${fmt(sample.p99Ms, 1)} ms`
            )
          }
        } finally {
          await build.server.stop()
        }
      }
    }
  } finally {
    await sink.close()
  }
  const med = (row: string, id: string, f: (s: Sample) => number) =>
    median(samples.get(`${row}/${id}`)!.map(f))
  const cells = ROWS.map(
    (row) =>
      `${row} ${fmt(med(row, "before", (s) => s.cpuUsPerRequest))} → ${fmt(med(row, "after", (s) => s.cpuUsPerRequest))} µs/req (${fmt(med(row, "before", (s) => s.rps))} → ${fmt(med(row, "after", (s) => s.rps))} req/s)`
  )
  const summary = cells.join("; ")
  console.log(`\n${summary}`)
  if (sectionLabel !== undefined) appendChange(sectionLabel, summary)
}

/** Adds one line to the `peer-changes` section, keeping the lines earlier changes wrote. */
const appendChange = (label: string, summary: string) => {
  const current = readFileSync(join(ROOT, "BENCHMARKS.md"), "utf8")
  const match = /<!-- peer-changes:start -->\n([\s\S]*?)\n<!-- peer-changes:end -->/.exec(current)
  const header = `## Request-path changes, before/after (\`bench/peerChanges.ts\`)

Each line: one change, FocusForge's previous build (bundle of the commit before) against the change in the
same run, pinned as in \`bench/peer.ts\`, BENCH_SECONDS=${SECONDS}, ${ROUNDS} round(s), c=${CONNECTIONS}; server CPU µs per
request (utime + stime over answered requests; \`commands\`: per HTTP request) and req/s (commands/s for \`commands\`).

| change | before → after |
|---|---|`
  const previous =
    match?.[1]?.split("\n").filter((line) => line.startsWith("| ") && !line.startsWith("| change")) ?? []
  writeSection("peer-changes", `${header}\n${[...previous, `| ${label} | ${summary} |`].join("\n")}`)
}

await main()
