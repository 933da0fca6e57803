/**
 * HTTP stack cost under load: raw `node:http` vs the layer ladder up to the real FocusForge server with
 * monitoring and tracing on, measured side by side in one run with wrk.
 *
 * Every server is compiled JavaScript run by plain `node` (no tsx loader): `npm run build` makes
 * dist/ (the product, `node dist/main.js`), and tsconfig.bench.json compiles src + bench/servers to
 * dist-bench/ with the same compiler settings for the ladder's rungs. Servers run as child processes
 * pinned to core 0 and wrk to core 1 (taskset, when there are at least 2 cores). Each scenario gets a
 * warm-up, then ROUNDS rounds visit every scenario in a rotated order so a slow moment of a shared
 * machine is spread over all of them; the tables show medians and ratios to raw node:http measured in
 * the same rounds. Loopback only. Scenarios are data (`scenarios` below): the command path and the
 * fault suite can be added as more of them (a wrk Lua script for requests with bodies and tokens,
 * a setup hook for seeding users).
 *
 *   npx tsx bench/http.ts [--no-build]     BENCH_SECONDS (default 5), BENCH_ROUNDS (default 3),
 *                                          BENCH_CONNECTIONS (default 500)
 *   BENCH_BEFORE_DIR=<dir>                 adds rows for an older build of dist-bench (before/after)
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const ROOT = new URL("..", import.meta.url).pathname
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const WARMUP_SECONDS = 2
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 500)
const BEFORE_DIR = process.env.BENCH_BEFORE_DIR
const build = !process.argv.includes("--no-build")

const pinned = Os.availableParallelism() >= 2 && existsSync("/usr/bin/taskset")
const SERVER_CPU = "0"
const LOAD_CPU = "1"
const pin = (cpu: string, command: ReadonlyArray<string>): ReadonlyArray<string> =>
  pinned ? ["taskset", "-c", cpu, ...command] : command

// --- servers ---------------------------------------------------------------------------------------

interface ServerSpec {
  readonly id: string
  /** Script run with plain `node`, relative to the repository root. */
  readonly script: string
  readonly env: Record<string, string>
  readonly describe: string
}

/** A loopback OTLP/HTTP collector that accepts every export and discards it. */
const startSink = async () => {
  let exports = 0
  const sink = Http.createServer((request, response) => {
    request.resume()
    request.on("end", () => {
      exports++
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}`,
    exports: () => exports,
    close: () => new Promise<void>((resolve) => sink.close(() => resolve()))
  }
}

interface Running {
  readonly spec: ServerSpec
  readonly port: number
  readonly child: ChildProcess
  readonly stop: () => Promise<void>
}

const rssMb = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024
}

const startServerProcess = async (spec: ServerSpec): Promise<Running> => {
  const dataDir = mkdtempSync(join(Os.tmpdir(), "focusforge-bench-"))
  const [command, ...args] = pin(SERVER_CPU, [process.execPath, spec.script])
  const child = spawn(command!, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "Info",
      NODE_ENV: "production",
      ...spec.env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.id} did not start:\n${output}`)), 90_000)
    const poll = setInterval(() => {
      const match = /Listening on http:\/\/[^:]+:(\d+)/.exec(output)
      if (match?.[1]) {
        clearInterval(poll)
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    }, 50)
    void exited.then(() => {
      clearInterval(poll)
      clearTimeout(timer)
      reject(new Error(`${spec.id} exited before listening:\n${output}`))
    })
  })
  return {
    spec,
    port,
    child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))])
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    }
  }
}

// --- load ------------------------------------------------------------------------------------------

interface WrkResult {
  readonly rps: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Socket errors plus non-2xx/3xx responses. */
  readonly errors: number
}

const toMs = (value: string, unit: string): number =>
  Number(value) * (unit === "us" ? 0.001 : unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000)

export const parseWrk = (text: string): WrkResult => {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN)
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(text)
    return match?.[1] === undefined || match[2] === undefined ? Number.NaN : toMs(match[1], match[2])
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const socketErrors = socket === null ? 0 : socket.slice(1).reduce((sum, n) => sum + Number(n), 0)
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0)
  return { rps, p50Ms: percentile("50"), p99Ms: percentile("99"), errors: socketErrors + non2xx }
}

interface Scenario {
  readonly id: string
  readonly label: string
  readonly server: string
  readonly path: string
  /** A wrk Lua script (method, body, headers, per-request paths) for scenarios beyond a plain GET. */
  readonly script?: string
  readonly connections?: number
}

const execFileAsync = promisify(execFile)

/** Asynchronous, so the bench process's own event loop (the OTLP sink) keeps answering meanwhile. */
const wrk = async (url: string, seconds: number, scenario: Scenario): Promise<WrkResult> => {
  const connections = scenario.connections ?? CONNECTIONS
  const args = [
    "wrk",
    "-t1",
    `-c${connections}`,
    `-d${seconds}s`,
    "--timeout",
    "10s",
    "--latency",
    ...(scenario.script === undefined ? [] : ["-s", scenario.script]),
    url
  ]
  const [command, ...rest] = pin(LOAD_CPU, args)
  const { stdout } = await execFileAsync(command!, rest, { encoding: "utf8", maxBuffer: 1 << 20 })
  return parseWrk(stdout)
}

// --- the run ---------------------------------------------------------------------------------------

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

const main = async () => {
  if (build) {
    console.log("building dist/ (npm run build) and dist-bench/ (tsconfig.bench.json)")
    execFileSync("npm", ["run", "-s", "build"], { cwd: ROOT, stdio: "inherit" })
    execFileSync(
      process.execPath,
      [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.bench.json"],
      {
        cwd: ROOT,
        stdio: "inherit"
      }
    )
  }
  // src/layers/Health.ts reads the version from ../../package.json relative to its compiled file.
  cpSync(join(ROOT, "package.json"), join(ROOT, "dist-bench/package.json"))

  const sink = await startSink()
  const tracing = (ratio: string) => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.url,
    OTEL_TRACES_SAMPLER_ARG: ratio
  })
  const ff = "dist-bench/bench/servers/focusforge.js"
  const servers: Array<ServerSpec> = [
    { id: "raw", script: "dist-bench/bench/servers/raw.js", env: {}, describe: "raw node:http" },
    {
      id: "effect",
      script: "dist-bench/bench/servers/effect.js",
      env: {},
      describe: "Effect NodeHttpServer + HttpRouter"
    },
    {
      id: "httpapi",
      script: "dist-bench/bench/servers/httpapi.js",
      env: {},
      describe: "+ HttpApi (schema-encoded endpoint)"
    },
    { id: "ff-plain", script: ff, env: { MONITORING: "off" }, describe: "FocusForge, monitoring off" },
    { id: "ff-metrics", script: ff, env: { MONITORING: "on" }, describe: "FocusForge, monitoring on" },
    { id: "ff-trace-0.1", script: ff, env: tracing("0.1"), describe: "FocusForge, monitoring + tracing 0.1" },
    { id: "ff-trace-1", script: ff, env: tracing("1"), describe: "FocusForge, monitoring + tracing 1" },
    {
      id: "main",
      script: "dist/main.js",
      env: tracing("1"),
      describe: "node dist/main.js, monitoring + tracing 1"
    }
  ]
  if (BEFORE_DIR !== undefined) {
    servers.push({
      id: "before-main",
      script: join(BEFORE_DIR, "src/main.js"),
      env: tracing("1"),
      describe: "previous build, monitoring + tracing 1"
    })
    servers.push({
      id: "before-trace-1",
      script: join(BEFORE_DIR, "bench/servers/focusforge.js"),
      env: tracing("1"),
      describe: "previous build, monitoring + tracing 1"
    })
  }

  const scenarios: Array<Scenario> = [
    { id: "raw", label: "raw node:http", server: "raw", path: "/health/live" },
    { id: "effect", label: "Effect NodeHttpServer + HttpRouter", server: "effect", path: "/health/live" },
    { id: "httpapi", label: "+ HttpApi decoding/encoding", server: "httpapi", path: "/health/live" },
    {
      id: "ff-plain",
      label: "+ FocusForge stack (request id, error envelope, body limit), monitoring off",
      server: "ff-plain",
      path: "/bench/live"
    },
    { id: "ff-metrics", label: "+ metrics (monitoring on)", server: "ff-metrics", path: "/bench/live" },
    {
      id: "ff-trace-0.1",
      label: "+ tracing, sampler ratio 0.1",
      server: "ff-trace-0.1",
      path: "/bench/live"
    },
    { id: "ff-trace-1", label: "+ tracing, sampler ratio 1", server: "ff-trace-1", path: "/bench/live" },
    {
      id: "main",
      label: "**target**: `node dist/main.js` `/health/live`, monitoring + tracing on",
      server: "main",
      path: "/health/live"
    }
  ]
  if (BEFORE_DIR !== undefined) {
    scenarios.push(
      {
        id: "before-main",
        label: "before (previous build): `/health/live`, monitoring + tracing on",
        server: "before-main",
        path: "/health/live"
      },
      {
        id: "before-trace-1",
        label: "before (previous build): `/bench/live`, tracing ratio 1",
        server: "before-trace-1",
        path: "/bench/live"
      }
    )
  }

  const loadBefore = Os.loadavg()
  console.log(`starting ${servers.length} servers (pinned: ${pinned})`)
  const running = new Map<string, Running>()
  try {
    // One at a time: start-up is CPU-heavy and the servers share one core.
    for (const spec of servers) running.set(spec.id, await startServerProcess(spec))
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const idleRss = new Map([...running].map(([id, server]) => [id, rssMb(server.child.pid!)]))

    for (const scenario of scenarios) {
      const server = running.get(scenario.server)!
      await wrk(`http://127.0.0.1:${server.port}${scenario.path}`, WARMUP_SECONDS, scenario)
    }
    const results = new Map<string, Array<WrkResult>>(scenarios.map((s) => [s.id, []]))
    // The raw run right before each scenario's run: on a shared machine the load changes within a minute,
    // so each ratio compares two runs seconds apart.
    const pairedRaw = new Map<string, Array<WrkResult>>(scenarios.map((s) => [s.id, []]))
    const rawServer = running.get("raw")!
    const others = scenarios.filter((scenario) => scenario.id !== "raw")
    const rawScenario = scenarios.find((scenario) => scenario.id === "raw")!
    for (let round = 0; round < ROUNDS; round++) {
      const order = others.map((_, i) => others[(i + round) % others.length]!)
      for (const scenario of order) {
        const raw = await wrk(`http://127.0.0.1:${rawServer.port}${rawScenario.path}`, SECONDS, rawScenario)
        results.get("raw")!.push(raw)
        pairedRaw.get(scenario.id)!.push(raw)
        const server = running.get(scenario.server)!
        const result = await wrk(`http://127.0.0.1:${server.port}${scenario.path}`, SECONDS, scenario)
        results.get(scenario.id)!.push(result)
        console.log(
          `round ${round + 1} ${scenario.id.padEnd(16)} ${result.rps.toFixed(0).padStart(7)} req/s  p99 ${result.p99Ms.toFixed(1)} ms  errors ${result.errors}  (raw just before: ${raw.rps.toFixed(0)} req/s, p99 ${raw.p99Ms.toFixed(1)} ms)`
        )
      }
    }
    const loadAfter = Os.loadavg()

    const summary = scenarios.map((scenario) => {
      const runs = results.get(scenario.id)!
      return {
        scenario,
        rps: median(runs.map((r) => r.rps)),
        p50: median(runs.map((r) => r.p50Ms)),
        p99: median(runs.map((r) => r.p99Ms)),
        errors: runs.reduce((sum, r) => sum + r.errors, 0),
        rounds:
          scenario.id === "raw"
            ? `${runs.length} runs`
            : runs
                .map((r, i) => `${r.rps.toFixed(0)} (${pairedRaw.get(scenario.id)![i]?.rps.toFixed(0)})`)
                .join(" / "),
        rss: idleRss.get(scenario.server) ?? Number.NaN
      }
    })
    const ratioTo = (id: string) => {
      if (id === "raw") return 1
      const raws = pairedRaw.get(id)!
      return median(results.get(id)!.map((r, i) => r.rps / (raws[i]?.rps ?? Number.NaN)))
    }
    const fmt = (n: number, digits = 0) =>
      Number.isFinite(n)
        ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
        : "–"
    const table = summary
      .map(
        ({ scenario, rps, p50, p99, errors, rounds, rss }) =>
          `| ${scenario.label} | \`${scenario.path}\` | ${fmt(rps)} | ${fmt(ratioTo(scenario.id), 2)} | ${fmt(p50, 1)} | ${fmt(p99, 1)} | ${errors} | ${fmt(rss)} | ${rounds} |`
      )
      .join("\n")
    const target = summary.find((row) => row.scenario.id === "main")!
    const targetRatio = ratioTo("main")
    const verdict = `Target (\`/health/live\`, monitoring + tracing on, ≥ 0.50 × raw and p99 < 50 ms at ${CONNECTIONS} connections): ${fmt(targetRatio, 2)} × raw, p99 ${fmt(target.p99, 1)} ms → ${targetRatio >= 0.5 && target.p99 < 50 ? "**met**" : "**not met**"}.`
    const cpu = Os.cpus()[0]?.model ?? "unknown CPU"
    const section = `<!-- http:start -->
## HTTP stack under load (\`bench/http.ts\`)

\`npx tsx bench/http.ts\` (or \`npm run bench -- http\`). Builds first: \`npm run build\` (dist/) and
\`tsc -p tsconfig.bench.json\` (dist-bench/: src + bench/servers with the same compiler settings), then
runs every server as compiled JavaScript under plain \`node\` (no tsx loader), ${pinned ? "pinned to core 0 with `taskset -c 0`" : "unpinned (taskset or a second core missing)"},
and the load generator as \`${pinned ? "taskset -c 1 " : ""}wrk -t1 -c${CONNECTIONS} -d${SECONDS}s --timeout 10s --latency <url>\`
(keep-alive, loopback only) after a ${WARMUP_SECONDS} s warm-up per server. ${ROUNDS} rounds, each visiting every row in
a rotated order, and every run of a row is paired with a run of raw \`node:http\` right before it (the
machine's load changes within a minute); the table shows medians over the rounds, "× raw" is the median
of the paired ratios, and the last column lists each round as "req/s (raw req/s of its pair)". Tracing rows export over OTLP/HTTP to a
loopback sink in the bench process that discards the spans (${sink.exports()} exports received). Idle RSS is read from
\`/proc/<pid>/status\` after start-up, before any load. \`/health/*\` is counted by the metrics but, by
design, never traced (probes); the ladder's tracing rows therefore use \`/bench/live\`, a cheap traced endpoint
that \`bench/servers/focusforge.ts\` adds to the real API (same stack, same handler shape as \`/health/live\`).

${verdict}

| server | path | req/s | × raw | p50 ms | p99 ms | errors | idle RSS MB | req/s per round (paired raw) |
|---|---|---:|---:|---:|---:|---:|---:|---|
${table}

Machine: ${Os.availableParallelism()} vCPU (${cpu}), Node.js ${process.versions.node}, load average
${loadBefore.map((n) => n.toFixed(1)).join(" / ")} before and ${loadAfter.map((n) => n.toFixed(1)).join(" / ")} after (shared with other jobs:
read the ratios, not the absolute rates). ${new Date().toISOString()}.
<!-- http:end -->`
    const file = join(ROOT, "BENCHMARKS.md")
    const current = readFileSync(file, "utf8")
    const start = current.indexOf("<!-- http:start -->")
    const end = current.indexOf("<!-- http:end -->")
    const updated =
      start === -1 || end === -1
        ? `${current.trimEnd()}\n\n${section}\n`
        : `${current.slice(0, start)}${section}${current.slice(end + "<!-- http:end -->".length)}`
    writeFileSync(file, updated)
    console.log(`\n${section}`)
  } finally {
    await Promise.all([...running.values()].map((server) => server.stop()))
    await sink.close()
  }
}

await main()
