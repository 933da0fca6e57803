/**
 * Read models at scale (issue 18, point 3): how long a server takes, after a restart, to be ready and
 * to answer a user's first task listing, and how much memory it holds then, on stores of 10k, 100k and
 * 1M events. Today every process rebuilds its task index (and its planner index, and the block-credit
 * catch-up) from the log, so these grow with the log; the persisted read models should make them flat.
 *
 *   npx tsx bench/readmodels.ts [--no-build] [--sizes 10000,100000,1000000] [--rounds 3]
 *   BENCH_BEFORE_DIR  a bundle of the old build (`node scripts/bundle.mjs --outdir .perf/before` from the
 *                     old checkout; a directory inside the repository so its externals resolve): measured
 *                     beside dist/ in the same run. Without it only dist/ (the current checkout) runs.
 *   BENCH_AFTER_DIR   another bundle instead of dist/;   BENCH_SIZES, BENCH_ROUNDS (3)
 *   BENCH_READMODELS_DIR  where generated stores are cached (/tmp/ff-readmodels/<size>/)
 *
 * Stores: bench/support/readmodelStore.ts writes them through the SQLite store's own `append`, with
 * events decided and encoded by the domain's deciders, ~70 events per user; one user registered
 * through the HTTP API first (a server started on the empty DATA_DIR) so the benchmark can log in.
 * A generated store is kept under BENCH_READMODELS_DIR/<size>/ and reused while its generator version
 * matches: the run after a change measures the same input without regenerating it.
 *
 * Per size and build: the store is copied to a scratch DATA_DIR and the build started on it once
 * (its "first start": whatever it migrates or builds on a store it has never seen), then stopped;
 * each measured round copies that build's own store again (a build's migrations never reach the
 * other's input) and starts a fresh process on it: spawn → `/health/ready` 200 (polled every 5 ms) →
 * login → `GET /api/v1/tasks` → `GET /api/v1/orchestrator/planner/actions`, then each listing once
 * more (warm). RSS (`VmRSS`) right after the first listing, and the process's peak (`VmHWM`).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import { join, resolve } from "node:path"
import {
  fmt,
  loadAverage,
  machine,
  median,
  pin,
  pinned,
  ROOT,
  SERVER_CPU,
  sleep,
  writeSection
} from "./support/harness.ts"
import { type GeneratedStore, generateStore } from "./support/readmodelStore.ts"

/** Bump when the generator's output changes: cached stores of another version are regenerated. */
const GENERATOR_VERSION = 1
const PASSWORD = "correct horse battery"
const EMAIL = "readmodels@bench.example"

const flag = (name: string): string | undefined => {
  const at = process.argv.indexOf(`--${name}`)
  return at === -1 ? undefined : process.argv[at + 1]
}
const SIZES = (flag("sizes") ?? process.env.BENCH_SIZES ?? "10000,100000,1000000")
  .split(",")
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0)
const ROUNDS = Number(flag("rounds") ?? process.env.BENCH_ROUNDS ?? 3)
const CACHE = process.env.BENCH_READMODELS_DIR ?? "/tmp/ff-readmodels"
const BEFORE_DIR = process.env.BENCH_BEFORE_DIR
const AFTER_DIR = process.env.BENCH_AFTER_DIR
/** A listing that takes longer than this is a failure, not a number. */
const REQUEST_TIMEOUT_MS = 600_000

interface Build {
  readonly id: string
  readonly script: string
}

/** A bundle directory holds main.mjs; a checkout's directory holds dist/main.mjs. */
const scriptIn = (dir: string): string => {
  const direct = resolve(ROOT, dir, "main.mjs")
  return existsSync(direct) ? direct : resolve(ROOT, dir, "dist", "main.mjs")
}

// --- one server process ------------------------------------------------------------------------------

const freePort = () =>
  new Promise<number>((done, fail) => {
    const server = Net.createServer()
    server.once("error", fail)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => done(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

const statusKb = (pid: number, field: "VmRSS" | "VmHWM"): number => {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match?.[1] === undefined ? Number.NaN : Number(match[1])
  } catch {
    return Number.NaN
  }
}

interface Server {
  readonly child: ChildProcess
  readonly url: string
  readonly began: number
  readonly output: () => string
  readonly stop: () => Promise<void>
}

const startServer = async (build: Build, dataDir: string): Promise<Server> => {
  const port = await freePort()
  const [command, ...args] = pin(SERVER_CPU, [process.execPath, build.script])
  const began = performance.now()
  const child = spawn(command!, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      NODE_ENV: "production",
      LOG_LEVEL: "Warning"
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000)
  }
  child.stdout?.on("data", keep)
  child.stderr?.on("data", keep)
  const exited = new Promise<void>((done) => child.once("exit", () => done()))
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    began,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      await Promise.race([exited, sleep(30_000)])
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL")
        await exited
      }
    }
  }
}

const waitReady = async (server: Server): Promise<number> => {
  const deadline = server.began + REQUEST_TIMEOUT_MS
  for (;;) {
    const status = await fetch(`${server.url}/health/ready`).then(
      (reply) => reply.status,
      () => 0
    )
    if (status === 200) return performance.now() - server.began
    if (server.child.exitCode !== null || performance.now() > deadline) {
      throw new Error(`server did not become ready (last status ${status}):\n${server.output()}`)
    }
    await sleep(5)
  }
}

const call = async <A>(server: Server, method: string, path: string, token?: string, body?: unknown) => {
  const reply = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  })
  const text = await reply.text()
  if (reply.status >= 300) throw new Error(`${method} ${path}: ${reply.status} ${text.slice(0, 300)}`)
  return JSON.parse(text) as A
}

const login = (server: Server) =>
  call<{ access_token: string; user: { id: string } }>(server, "POST", "/api/v1/auth/login", undefined, {
    email: EMAIL,
    password: PASSWORD
  })

/** Answers the request's own duration with its body. */
const timed = async <A>(work: () => Promise<A>) => {
  const started = performance.now()
  const value = await work()
  return { value, ms: performance.now() - started }
}

// --- the generated stores ------------------------------------------------------------------------------

interface Cached extends GeneratedStore {
  readonly generatorVersion: number
  readonly size: number
  readonly email: string
  readonly dbBytes: number
  readonly generatedAt: string
}

/** The store of `size` events under CACHE/<size>/, generated (and its user registered) when absent. */
const storeFor = async (size: number, build: Build): Promise<{ dir: string; meta: Cached }> => {
  const dir = join(CACHE, String(size))
  const metaFile = join(dir, "meta.json")
  if (existsSync(metaFile)) {
    const meta = JSON.parse(readFileSync(metaFile, "utf8")) as Cached
    if (meta.generatorVersion === GENERATOR_VERSION) {
      console.log(
        `store ${size}: cached in ${dir} (${fmt(meta.events)} events, generated ${meta.generatedAt})`
      )
      return { dir, meta }
    }
  }
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  // The one user who can log in: registered through the API, so its password hash is the server's own.
  const server = await startServer(build, dir)
  let userId: string
  try {
    await waitReady(server)
    const session = await call<{ user: { id: string } }>(server, "POST", "/api/v1/auth/register", undefined, {
      email: EMAIL,
      password: PASSWORD,
      display_name: "Read-model bench"
    })
    userId = session.user.id
  } finally {
    await server.stop()
  }
  console.log(`store ${size}: generating into ${dir} …`)
  let reported = 0
  const generated = await generateStore({
    filename: join(dir, "focusforge.db"),
    events: size,
    knownUserId: userId,
    onProgress: (written) => {
      if (written - reported >= 100_000) {
        reported = written
        console.log(`  ${fmt(written)} events`)
      }
    }
  })
  const meta: Cached = {
    ...generated,
    generatorVersion: GENERATOR_VERSION,
    size,
    email: EMAIL,
    dbBytes: statSync(join(dir, "focusforge.db")).size,
    generatedAt: new Date().toISOString()
  }
  writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`)
  console.log(
    `store ${size}: ${fmt(meta.events)} events, ${fmt(meta.users)} users, ${fmt(meta.streams)} streams, ${fmt(meta.dbBytes / 2 ** 20, 1)} MB, generated in ${fmt(meta.generationMs / 1000, 1)} s`
  )
  return { dir, meta }
}

// --- one measured start ----------------------------------------------------------------------------------

interface Start {
  readonly readyMs: number
  /** Spawn to the first listing's answer (ready and login included). */
  readonly firstListingMs: number
  /** The first listing request alone. */
  readonly listingRequestMs: number
  readonly loginMs: number
  readonly plannerFirstMs: number
  readonly listingWarmMs: number
  readonly plannerWarmMs: number
  readonly rssAfterListingMb: number
  readonly peakRssMb: number
}

const measureStart = async (build: Build, dataDir: string, meta: Cached): Promise<Start> => {
  const server = await startServer(build, dataDir)
  const pid = server.child.pid!
  // VmHWM is the kernel's own peak; the sampler only guards against a process gone before it is read.
  let peakKb = 0
  const sampler = setInterval(() => {
    const hwm = statusKb(pid, "VmHWM")
    if (hwm > peakKb) peakKb = hwm
  }, 20)
  try {
    const readyMs = await waitReady(server)
    const session = await timed(() => login(server))
    const token = session.value.access_token
    const listing = await timed(() =>
      call<{ items: ReadonlyArray<unknown>; total: number }>(server, "GET", "/api/v1/tasks", token)
    )
    const firstListingMs = performance.now() - server.began
    const rssAfterListingMb = statusKb(pid, "VmRSS") / 1024
    if (listing.value.total !== meta.knownUser.tasks) {
      throw new Error(
        `listing answered ${listing.value.total} tasks, the store holds ${meta.knownUser.tasks}`
      )
    }
    const planner = await timed(() =>
      call<ReadonlyArray<unknown>>(server, "GET", "/api/v1/orchestrator/planner/actions", token)
    )
    if (planner.value.length !== meta.knownUser.actions) {
      throw new Error(
        `planner answered ${planner.value.length} actions, the store holds ${meta.knownUser.actions}`
      )
    }
    const listingWarm = await timed(() => call(server, "GET", "/api/v1/tasks", token))
    const plannerWarm = await timed(() => call(server, "GET", "/api/v1/orchestrator/planner/actions", token))
    peakKb = Math.max(peakKb, statusKb(pid, "VmHWM"))
    return {
      readyMs,
      firstListingMs,
      listingRequestMs: listing.ms,
      loginMs: session.ms,
      plannerFirstMs: planner.ms,
      listingWarmMs: listingWarm.ms,
      plannerWarmMs: plannerWarm.ms,
      rssAfterListingMb,
      peakRssMb: peakKb / 1024
    }
  } finally {
    clearInterval(sampler)
    await server.stop()
  }
}

const scratchCopy = (from: string): string => {
  const dir = mkdtempSync(join(Os.tmpdir(), "ff-readmodels-run-"))
  for (const file of ["focusforge.db", "jwt-secret"]) {
    if (existsSync(join(from, file))) cpSync(join(from, file), join(dir, file))
  }
  return dir
}

// --- report ------------------------------------------------------------------------------------------------

const describeStart = (s: Start) =>
  `ready ${fmt(s.readyMs)} ms, listing ${fmt(s.firstListingMs)} ms from spawn (request ${fmt(s.listingRequestMs)} ms, login ${fmt(s.loginMs)} ms), planner ${fmt(s.plannerFirstMs)} ms, warm ${fmt(s.listingWarmMs, 1)} / ${fmt(s.plannerWarmMs, 1)} ms, RSS ${fmt(s.rssAfterListingMb)} MB, peak ${fmt(s.peakRssMb)} MB`

const main = async () => {
  if (AFTER_DIR === undefined && !process.argv.includes("--no-build")) {
    execFileSync(process.execPath, [join(ROOT, "scripts/bundle.mjs")], { cwd: ROOT, stdio: "inherit" })
  }
  const current: Build = {
    id: BEFORE_DIR === undefined ? "current" : "after",
    script: AFTER_DIR === undefined ? join(ROOT, "dist/main.mjs") : scriptIn(AFTER_DIR)
  }
  const builds: Array<Build> = [
    ...(BEFORE_DIR === undefined ? [] : [{ id: "before", script: scriptIn(BEFORE_DIR) }]),
    current
  ]
  for (const build of builds) {
    if (!existsSync(build.script)) throw new Error(`${build.id}: ${build.script} does not exist`)
  }
  const loadBefore = loadAverage()
  const results: Array<{
    size: number
    meta: Cached
    firsts: Map<string, Start>
    rounds: Map<string, Array<Start>>
  }> = []
  for (const size of SIZES) {
    // The newest build registers the user of a new store; every build reads the same file afterwards.
    const { dir, meta } = await storeFor(size, current)
    const prepared = new Map<string, string>()
    const firsts = new Map<string, Start>()
    const rounds = new Map<string, Array<Start>>(builds.map((b) => [b.id, []]))
    try {
      for (const build of builds) {
        const own = scratchCopy(dir)
        prepared.set(build.id, own)
        const first = await measureStart(build, own, meta)
        firsts.set(build.id, first)
        console.log(`${size} ${build.id} first start: ${describeStart(first)}`)
      }
      for (let round = 0; round < ROUNDS; round++) {
        for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
          const copy = scratchCopy(prepared.get(build.id)!)
          try {
            const start = await measureStart(build, copy, meta)
            rounds.get(build.id)!.push(start)
            console.log(`${size} ${build.id} #${round + 1}: ${describeStart(start)}`)
          } finally {
            rmSync(copy, { recursive: true, force: true })
          }
        }
      }
    } finally {
      for (const own of prepared.values()) rmSync(own, { recursive: true, force: true })
    }
    results.push({ size, meta, firsts, rounds })
  }

  const med = (starts: ReadonlyArray<Start>, f: (s: Start) => number, digits = 0) =>
    fmt(median(starts.map(f)), digits)
  const tables = results.map(({ size, meta, firsts, rounds }) => {
    const rows = builds.map((build) => {
      const starts = rounds.get(build.id)!
      return `| ${build.id} | ${med(starts, (s) => s.readyMs)} | ${med(starts, (s) => s.firstListingMs)} | ${med(starts, (s) => s.listingRequestMs)} | ${med(starts, (s) => s.plannerFirstMs)} | ${med(starts, (s) => s.listingWarmMs, 1)} / ${med(starts, (s) => s.plannerWarmMs, 1)} | ${med(starts, (s) => s.rssAfterListingMb)} | ${med(starts, (s) => s.peakRssMb)} |`
    })
    const raw = builds.flatMap((build) => [
      `- ${build.id}, first start on the store: ${describeStart(firsts.get(build.id)!)}`,
      ...rounds.get(build.id)!.map((s, i) => `- ${build.id} #${i + 1}: ${describeStart(s)}`)
    ])
    return `### ${fmt(meta.events)} events (${fmt(meta.users)} users, ${fmt(meta.streams)} streams, ${fmt(meta.dbBytes / 2 ** 20)} MB file; generated in ${fmt(meta.generationMs / 1000, 1)} s)

| build | ready ms | first listing ms (from spawn) | listing request ms | planner listing ms | warm listing / planner ms | RSS after listing MB | peak RSS MB |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join("\n")}

Every start (size ${size}):
${raw.join("\n")}`
  })
  const buildList = builds
    .map((b) => `\`${b.id}\` = \`${b.script.startsWith(ROOT) ? b.script.slice(ROOT.length) : b.script}\``)
    .join(", ")
  const section = `## Read models at scale: restart on a long log (\`bench/readmodels.ts\`)

${machine()}; ${ROUNDS} measured starts per build and size${pinned ? ", server pinned to core 0" : ""}; load average ${loadBefore} before, ${loadAverage()} after. Builds: ${buildList}.

Method. Each store is generated once through the SQLite store's own \`append\` (bench/support/readmodelStore.ts):
events decided by the domain's deciders and encoded with their schemas, users (~70 events each) side by side so
their appends interleave as concurrent requests' do: tasks (60 % completed, 20 % started, 15 % untouched, 5 %
deleted) with the wallet credit of every completed block (bonuses included), mood entries, planner actions
(planned, claimed and completed; a fifth pending, due in 30 days). One user registered through the HTTP API
before generation owns 60 tasks and 12 actions; the block-credit checkpoint is saved at the head, as a server
that ran over this history leaves it. For each build, the store is copied and the build started on it once
("first start", raw lines below), then every measured start runs on a fresh copy of that build's store:
spawn of \`node <build>/main.mjs\` (embedded defaults, \`NODE_ENV=production\`) → \`/health/ready\` 200 (polled every
5 ms) → login → \`GET /api/v1/tasks\` (the known user's first page) → \`GET /api/v1/orchestrator/planner/actions\` →
both listings again (warm). RSS: \`VmRSS\` right after the first listing; peak: the process's \`VmHWM\` at the end.
The copied file is in the page cache (no cold-disk reads). Medians of the measured starts.

${tables.join("\n\n")}

\`npx tsx bench/readmodels.ts [--sizes 10000,100000,1000000] [--rounds 3]\`, with \`BENCH_BEFORE_DIR=<bundle>\` for a
before/after run in one go; stores cached in \`${CACHE}/<size>/\`. Last run ${new Date().toISOString().slice(0, 10)}.`
  writeSection("readmodels", section)
  console.log(`\n${section}`)
}

await main()
