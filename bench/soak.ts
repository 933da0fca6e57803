/**
 * 5,000 concurrent keep-alive connections held for 60 s with steady requests against the real server
 * (`node dist/main.mjs`, monitoring on, OTLP tracing to a loopback sink), pinned to core 0; wrk on core 1.
 *
 * Setup (not timed): USERS users register and log in. Then `wrk -c5000` with bench/lua/paced.lua: every
 * connection opens at the start and stays open; before each request it waits a random 0–2×delay ms, so
 * the 5,000 connections send about RATE requests/s between them, spread evenly — `/health/live` and
 * `GET /api/v1/auth/me` (bearer auth: JWT + the account's actor) in turn, each with the next user's
 * token. The server's RSS and open descriptors are sampled from /proc every second; established
 * connections are counted with `ss` in the middle of the run.
 *
 *   npx tsx bench/soak.ts [--no-build]
 *   BENCH_SOAK_CONNECTIONS (5000), BENCH_SOAK_SECONDS (60), BENCH_SOAK_RATE (500 requests/s in total),
 *   BENCH_USERS (100), BENCH_SAMPLER (OTEL_TRACES_SAMPLER_ARG, 1)
 */
import { execFileSync } from "node:child_process"
import { readdirSync } from "node:fs"
import {
  buildServers,
  cpuMs,
  fmt,
  loadAverage,
  luaReport,
  machine,
  openFilesFor,
  pinned,
  registerUsers,
  rssMb,
  setupRetries,
  sleep,
  startServerProcess,
  startSink,
  tempFile,
  wrk,
  wrkCommand,
  writeSection
} from "./support/harness.ts"

const CONNECTIONS = Number(process.env.BENCH_SOAK_CONNECTIONS ?? 5000)
const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 60)
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 500)
const USERS = Number(process.env.BENCH_USERS ?? 100)
const SAMPLER = process.env.BENCH_SAMPLER ?? "1"
const build = !process.argv.includes("--no-build")

/** Descriptors for the connections plus the server's own (SQLite, sockets to the sink, …). */
const OPEN_FILES = 65_536
const PATHS = ["/health/live", "/api/v1/auth/me"]

const openDescriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

const established = (port: number): number => {
  const out = execFileSync("ss", ["-Htn", "state", "established", `( sport = :${port} )`], {
    encoding: "utf8",
    maxBuffer: 1 << 24
  })
  return out.split("\n").filter((line) => line.trim().length > 0).length
}

const main = async () => {
  if (build) buildServers()
  const sink = await startSink()
  const server = await startServerProcess({
    id: "main",
    script: "dist/main.mjs",
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER_ARG: SAMPLER },
    describe: "node dist/main.mjs",
    openFiles: OPEN_FILES
  })
  const pid = server.child.pid!
  try {
    await sleep(1_000)
    const idleRss = rssMb(pid)
    console.log(`setup: registering and logging in ${USERS} users`)
    const users = await registerUsers(server.url, USERS, `soak-${Date.now()}`)
    const tokens = tempFile("tokens.txt", `${users.map((u) => u.token).join("\n")}\n`)
    await sleep(2_000)

    // Mean pause per connection so that CONNECTIONS connections send RATE requests/s in total.
    const delayMs = Math.round((CONNECTIONS / RATE) * 1000)
    const options = {
      url: server.url,
      seconds: SECONDS,
      connections: CONNECTIONS,
      script: "bench/lua/paced.lua",
      scriptArgs: [`tokens=${tokens}`, `paths=${PATHS.join(",")}`, `delay_ms=${delayMs}`],
      openFiles: OPEN_FILES
    }
    // The setup client's idle keep-alive sockets are on the same port: counted before, told apart after.
    const before = established(server.port)
    const samples: Array<{ at: number; rss: number; fds: number }> = []
    const started = performance.now()
    const sample = () =>
      samples.push({ at: (performance.now() - started) / 1000, rss: rssMb(pid), fds: openDescriptors(pid) })
    sample()
    const sampler = setInterval(sample, 1_000)
    let midRun = Number.NaN
    const counter = setTimeout(
      () => {
        midRun = established(server.port)
      },
      (SECONDS * 1000) / 2
    )
    const loadBefore = loadAverage()
    const serverCpuBefore = cpuMs(pid)
    console.log(
      `soak: ${CONNECTIONS} connections, ${SECONDS} s, ~${RATE} requests/s (pause 0–${2 * delayMs} ms)`
    )
    const result = await wrk(options)
    const wallMs = performance.now() - started
    const serverCpu = (100 * (cpuMs(pid) - serverCpuBefore)) / wallMs
    const loadCpu = (100 * (result.loadCpuMs ?? Number.NaN)) / wallMs
    clearInterval(sampler)
    clearTimeout(counter)
    sample()
    const loadAfter = loadAverage()
    await sleep(5_000)
    const afterClose = { rss: rssMb(pid), fds: openDescriptors(pid) }

    const report = luaReport(result.text)
    const ok = Number(report.ok ?? Number.NaN)
    const failed = Number(report.failed ?? Number.NaN)
    const statuses = Object.entries(report)
      .filter(([key]) => key.startsWith("status."))
      .map(([key, count]) => `${count} × ${key.slice("status.".length)}`)
    const errors = result.errors + failed
    const start = samples[0]!
    const end = samples[samples.length - 1]!
    const peakRss = Math.max(...samples.map((s) => s.rss))
    const peakFds = Math.max(...samples.map((s) => s.fds))
    const held = midRun - before >= CONNECTIONS
    const met = errors === 0 && held
    console.log(result.text)
    const verdict = `Target (${fmt(CONNECTIONS)} concurrent keep-alive connections held for ${SECONDS} s with steady requests, zero errors, RSS reported): ${fmt(midRun - before)} of wrk's connections established mid-run, ${fmt(ok)} requests answered 2xx, ${errors} errors → ${met ? "**met**" : "**not met**"}; RSS ${fmt(start.rss)} MB at the start, ${fmt(peakRss)} MB at the peak, ${fmt(end.rss)} MB at the end.`
    const section = `## ${fmt(CONNECTIONS)} keep-alive connections for ${SECONDS} s (\`bench/soak.ts\`)

\`npx tsx bench/soak.ts\` (or \`npm run bench -- soak\`). Builds like \`bench/http.ts\`, then runs the real
server, \`node dist/main.mjs\` (embedded store, monitoring on, tracing on at \`OTEL_TRACES_SAMPLER_ARG=${SAMPLER}\`
to a loopback OTLP sink: ${sink.exports()} exports received), ${pinned ? "pinned to core 0" : "unpinned"}, with \`RLIMIT_NOFILE\` ${openFilesFor(OPEN_FILES)}
for the server and for wrk (set with \`prlimit\` on the spawned processes; the kernel's \`somaxconn\` caps the
listen backlog of 4096). Setup, not timed: ${USERS} users register and log in (setup calls sent again after a
connection error: ${setupRetries()}).

Load: \`${wrkCommand({ ...options, url: "http://127.0.0.1:<port>", scriptArgs: ["tokens=<file>", `paths=${PATHS.join(",")}`, `delay_ms=${delayMs}`] })}\`.
wrk opens all ${fmt(CONNECTIONS)} connections at the start and keeps each open (HTTP/1.1 keep-alive; the server's
keep-alive timeout is 65 s, longer than any pause). \`bench/lua/paced.lua\` makes each connection wait a random
0–${fmt(2 * delayMs)} ms before each request, so together they send about ${fmt(RATE)} requests/s, evenly spread, instead of
a closed loop (\`BENCH_SOAK_RATE\` sets it; at 1,000 requests/s a 15 s trial on this shared core saturated the
server — p50 4 s — so the soak measures holding connections under a load it sustains, not overload);
requests alternate between \`/health/live\` and \`GET /api/v1/auth/me\` (bearer auth: JWT and the
account read through its actor), rotating through the users' tokens. Latency is measured from sending a
request, not from the pause before it. Non-2xx answers are counted by the Lua \`response\` hook, socket
errors by wrk. The server's RSS (\`VmRSS\`) and open descriptors are read from \`/proc/<pid>/\` every second;
established connections on the server's port are counted with \`ss -Htn state established\` half-way through.

${verdict}

| measure | value |
|---|---:|
| connections established on the server's port, half-way (of which the setup client's, idle) | ${fmt(midRun)} (${fmt(before)}) |
| requests answered / 2xx / requests/s | ${fmt(result.requests)} / ${fmt(ok)} / ${fmt(result.rps)} |
| latency p50 / p99 (ms) | ${fmt(result.p50Ms, 1)} / ${fmt(result.p99Ms, 1)} |
| CPU busy over the run: server (core 0) / wrk (core 1) | ${fmt(serverCpu)} % / ${fmt(loadCpu)} % |
| non-2xx answers (statuses) | ${fmt(failed)} (${statuses.length === 0 ? "none" : statuses.join(", ")}) |
| wrk socket errors (connect / read / write / timeout) | ${result.socketErrors.connect} / ${result.socketErrors.read} / ${result.socketErrors.write} / ${result.socketErrors.timeout} |
| server RSS MB: idle before setup / start of the soak / peak / end of the soak / 5 s after wrk closed its connections | ${fmt(idleRss)} / ${fmt(start.rss)} / ${fmt(peakRss)} / ${fmt(end.rss)} / ${fmt(afterClose.rss)} |
| server open descriptors: start / peak / 5 s after | ${fmt(start.fds)} / ${fmt(peakFds)} / ${fmt(afterClose.fds)} |

RSS over the run (MB, every ${Math.max(1, Math.round(samples.length / 12))} s): ${samples
      .filter((_, i) => i % Math.max(1, Math.round(samples.length / 12)) === 0)
      .map((s) => fmt(s.rss))
      .join(", ")}.

Machine: ${machine()}; load average ${loadBefore} before and ${loadAfter} after (shared with other jobs).
${new Date().toISOString()}.`
    writeSection("soak", section)
    console.log(`\n${section}`)
    if (!met) process.exitCode = 1
  } finally {
    await server.stop()
    await sink.close()
  }
}

await main()
