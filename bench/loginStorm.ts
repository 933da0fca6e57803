/**
 * What a login storm does to everyone else: the latency of one user's authenticated reads
 * (`GET /api/v1/auth/me`, sequential) while 300 logins are in flight at once, beside the same reads with
 * no storm, in the same run on the bundled server (`dist/main.mjs`, pinned to core 0 like the load
 * benchmarks). Rounds alternate quiet / storm. Also what the storm's logins got: 200, or 503
 * `Overloaded` once the password hasher's slots and queue are full.
 *
 *   npx tsx bench/loginStorm.ts [--no-build]     BENCH_ROUNDS (default 3)
 */
import * as Http from "node:http"
import { execFileSync } from "node:child_process"
import {
  callJson,
  fmt,
  loadAverage,
  machine,
  median,
  pinned,
  ROOT,
  registerUsers,
  startServerProcess,
  writeSection
} from "./support/harness.ts"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const STORM = 300
const QUIET_READS = 200

if (!process.argv.includes("--no-build"))
  execFileSync(process.execPath, ["scripts/bundle.mjs"], { cwd: ROOT, stdio: "inherit" })

const server = await startServerProcess({
  id: "focusforge",
  script: "dist/main.mjs",
  env: { BACKGROUND_JOBS: "worker" },
  describe: "the bundled server"
})

/** Logins on connections of their own, all opened at once: a storm, not a queue on a pool. */
const stormAgent = new Http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY })
const login = (email: string, password: string) =>
  new Promise<number>((resolve) => {
    const body = JSON.stringify({ email, password })
    const request = Http.request(
      `${server.url}/api/v1/auth/login`,
      {
        method: "POST",
        agent: stormAgent,
        headers: { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) }
      },
      (response) => {
        response.resume()
        response.on("end", () => resolve(response.statusCode ?? 0))
      }
    )
    request.on("error", () => resolve(0))
    request.end(body)
  })

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN
}

try {
  const [user] = await registerUsers(server.url, 1, `storm-${Date.now()}`)
  if (user === undefined) throw new Error("no user")
  const read = async () => {
    const started = performance.now()
    const reply = await callJson(server.url, "GET", "/api/v1/auth/me", { token: user.token })
    if (reply.status !== 200) throw new Error(`GET /auth/me: ${reply.status}`)
    return performance.now() - started
  }
  for (let i = 0; i < 50; i++) await read()

  const quiet: Array<number> = []
  const storm: Array<number> = []
  const statuses = new Map<number, number>()
  let stormMs: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < QUIET_READS; i++) quiet.push(await read())
    const started = performance.now()
    let done = false
    const logins = Promise.all(
      Array.from({ length: STORM }, () => login(user.email, "correct horse battery"))
    ).then((codes) => {
      done = true
      return codes
    })
    while (!done) storm.push(await read())
    for (const code of await logins) statuses.set(code, (statuses.get(code) ?? 0) + 1)
    stormMs = [...stormMs, performance.now() - started]
  }

  const row = (label: string, samples: ReadonlyArray<number>) =>
    `| ${label} | ${samples.length} | ${fmt(median(samples), 1)} | ${fmt(percentile(samples, 0.95), 1)} | ${fmt(percentile(samples, 0.99), 1)} | ${fmt(Math.max(...samples), 1)} |`
  const section = `## Login storm (\`bench/loginStorm.ts\`)

\`npx tsx bench/loginStorm.ts\`. The bundled server on the embedded default${pinned ? ", pinned to core 0 (so one hashing slot: max(1, cores − 1))" : ""}; one user reads
\`GET /api/v1/auth/me\` sequentially over a keep-alive connection, ${ROUNDS} rounds of ${QUIET_READS} reads with nothing else
running, each followed by reads for as long as ${STORM} logins (each on its own connection, all sent at once)
are in flight. Milliseconds per read.

| reads | n | median | p95 | p99 | max |
|---|---:|---:|---:|---:|---:|
${row("quiet", quiet)}
${row(`during ${STORM} concurrent logins`, storm)}

Storm logins answered: ${[...statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([code, n]) => `${n} × ${code === 0 ? "connection error" : code}`)
    .join(
      ", "
    )} over ${ROUNDS} rounds; each storm lasted ${stormMs.map((ms) => fmt(ms)).join(" / ")} ms. Beyond the
hasher's slots and its queue of 64 the logins are refused at once (\`503 Overloaded\`, \`Retry-After\`)
instead of waiting; the hashes run on libuv's thread pool, so the reads above only compete with them for
the CPU, never for the event loop. (The issue's baseline: the same storm took such reads from 5 ms to
2.96 s when every login ran scrypt unbounded.)

${machine()}; load average ${loadAverage()}.`
  writeSection("login-storm", section)
  console.log(section)
} finally {
  await server.stop()
}
