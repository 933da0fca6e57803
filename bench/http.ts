/**
 * HTTP stack cost under load: raw `node:http` vs the layer ladder up to the real FocusForge server with
 * monitoring and tracing on, measured side by side in one run with wrk.
 *
 * Every server is compiled JavaScript run by plain `node` (no tsx loader): `npm run build` makes
 * dist/ (the product, `node dist/main.mjs`), and tsconfig.bench.json compiles src + bench/servers to
 * dist-bench/ with the same compiler settings for the ladder's rungs. Servers run as child processes
 * pinned to core 0 and wrk to core 1 (taskset, when there are at least 2 cores). Each scenario gets a
 * warm-up, then ROUNDS rounds visit every scenario in a rotated order so a slow moment of a shared
 * machine is spread over all of them; the tables show medians and ratios to raw node:http measured in
 * the same rounds. Loopback only. Scenarios are data (`scenarios` below); an `authed` scenario sends
 * the bearer tokens of users registered on its server before the warm-up (bench/lua/bearer.lua).
 * The command path and the connection soak are bench/commands.ts and bench/soak.ts; what the three
 * share (build, servers, sink, wrk, BENCHMARKS.md sections) is bench/support/harness.ts.
 *
 *   npx tsx bench/http.ts [--no-build]     BENCH_SECONDS (default 5), BENCH_ROUNDS (default 3),
 *                                          BENCH_CONNECTIONS (default 500), BENCH_AUTH_USERS (default 50)
 *   BENCH_BEFORE_DIR=<dir>                 adds rows for an older build of dist-bench (before/after)
 */
import * as Os from "node:os"
import { join } from "node:path"
import {
  buildServers,
  pinned,
  registerUsers,
  type Running,
  rssMb,
  type ServerSpec,
  startServerProcess,
  startSink,
  tempFile,
  median,
  fmt,
  writeSection,
  wrk as runWrk,
  type WrkResult
} from "./support/harness.ts"

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const WARMUP_SECONDS = 2
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 500)
const BEFORE_DIR = process.env.BENCH_BEFORE_DIR
/** Users registered on each authenticated server; the auth rungs rotate through their tokens. */
const AUTH_USERS = Number(process.env.BENCH_AUTH_USERS ?? 50)
const build = !process.argv.includes("--no-build")

interface Scenario {
  readonly id: string
  readonly label: string
  readonly server: string
  readonly path: string
  /** Requests carry a bearer token of one of the server's bench users (bench/lua/bearer.lua). */
  readonly authed?: boolean
}

// --- the run ---------------------------------------------------------------------------------------

const main = async () => {
  if (build) buildServers()

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
      id: "effect-adapter",
      script: "dist-bench/bench/servers/effectAdapter.js",
      env: {},
      describe: "Effect HttpRouter on FocusForge's Node adapter"
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
      script: "dist/main.mjs",
      env: tracing("1"),
      describe: "node dist/main.mjs, monitoring + tracing 1"
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
    {
      id: "effect-adapter",
      label:
        "Effect HttpRouter on FocusForge's Node adapter (`src/http/NodeAdapter.ts`; every row below uses it)",
      server: "effect-adapter",
      path: "/health/live"
    },
    { id: "httpapi", label: "+ HttpApi decoding/encoding", server: "httpapi", path: "/health/live" },
    {
      id: "ff-plain",
      label: "+ FocusForge stack (request id, error envelope, body limit), monitoring off",
      server: "ff-plain",
      path: "/bench/live"
    },
    {
      id: "ff-auth",
      label: "+ auth (bearer JWT, account read through its actor), monitoring off",
      server: "ff-plain",
      path: "/bench/authed",
      authed: true
    },
    {
      id: "ff-metrics",
      label: "+ metrics (monitoring on)",
      server: "ff-metrics",
      path: "/bench/authed",
      authed: true
    },
    {
      id: "ff-trace-0.1",
      label: "+ tracing, sampler ratio 0.1",
      server: "ff-trace-0.1",
      path: "/bench/authed",
      authed: true
    },
    {
      id: "ff-trace-1",
      label: "+ tracing, sampler ratio 1",
      server: "ff-trace-1",
      path: "/bench/authed",
      authed: true
    },
    {
      id: "main",
      label: "**target**: `node dist/main.mjs` `/health/live`, monitoring + tracing on",
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

    // Bench users on every server an authenticated rung runs on (not timed; after the idle RSS reading).
    const tokenFiles = new Map<string, string>()
    for (const id of new Set(scenarios.filter((s) => s.authed).map((s) => s.server))) {
      const users = await registerUsers(running.get(id)!.url, AUTH_USERS, `ladder-${id}`)
      tokenFiles.set(id, tempFile("tokens.txt", `${users.map((u) => u.token).join("\n")}\n`))
    }
    const wrk = (scenario: Scenario, seconds: number) =>
      runWrk({
        url: `${running.get(scenario.server)!.url}${scenario.path}`,
        seconds,
        connections: CONNECTIONS,
        ...(scenario.authed
          ? {
              script: "bench/lua/bearer.lua",
              scriptArgs: [`tokens=${tokenFiles.get(scenario.server)}`, `paths=${scenario.path}`]
            }
          : {})
      })

    for (const scenario of scenarios) await wrk(scenario, WARMUP_SECONDS)
    const results = new Map<string, Array<WrkResult>>(scenarios.map((s) => [s.id, []]))
    // The raw run right before each scenario's run: on a shared machine the load changes within a minute,
    // so each ratio compares two runs seconds apart.
    const pairedRaw = new Map<string, Array<WrkResult>>(scenarios.map((s) => [s.id, []]))
    const others = scenarios.filter((scenario) => scenario.id !== "raw")
    const rawScenario = scenarios.find((scenario) => scenario.id === "raw")!
    for (let round = 0; round < ROUNDS; round++) {
      const order = others.map((_, i) => others[(i + round) % others.length]!)
      for (const scenario of order) {
        const raw = await wrk(rawScenario, SECONDS)
        results.get("raw")!.push(raw)
        pairedRaw.get(scenario.id)!.push(raw)
        const result = await wrk(scenario, SECONDS)
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
    const section = `## HTTP stack under load (\`bench/http.ts\`)

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
The "+ auth" rung and those above it request \`/bench/authed\`: the same constant answer behind the API's
bearer authentication, exactly as every protected route (HS256 JWT signature and expiry, then the account read
through its actor — the stream's tail is read from SQLite — to check it exists and the token is not revoked);
\`bench/lua/bearer.lua\` rotates through the tokens of ${AUTH_USERS} users registered and logged in on each
server before the warm-up (\`-s bench/lua/bearer.lua <url> -- tokens=<file> paths=/bench/authed\`). Each rung
adds one layer to the one above it; "× raw" divided by the previous row's is the layer's own cost.

${verdict}

| server | path | req/s | × raw | p50 ms | p99 ms | errors | idle RSS MB | req/s per round (paired raw) |
|---|---|---:|---:|---:|---:|---:|---:|---|
${table}

Machine: ${Os.availableParallelism()} vCPU (${cpu}), Node.js ${process.versions.node}, load average
${loadBefore.map((n) => n.toFixed(1)).join(" / ")} before and ${loadAfter.map((n) => n.toFixed(1)).join(" / ")} after (shared with other jobs:
read the ratios, not the absolute rates). ${new Date().toISOString()}.`
    writeSection("http", section)
    console.log(`\n${section}`)
  } finally {
    await Promise.all([...running.values()].map((server) => server.stop()))
    await sink.close()
  }
}

await main()
