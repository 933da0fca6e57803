/**
 * What the load benchmarks (`bench/http.ts`, `bench/commands.ts`, `bench/soak.ts`) share: building the
 * compiled servers, starting them as child processes pinned to core 0, a loopback OTLP sink, running
 * wrk pinned to core 1 and reading its report, RSS from /proc, and rewriting a section of BENCHMARKS.md.
 * Not a benchmark itself (`bench/run.ts` only runs the `.ts` files directly in `bench/`).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Os from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

export const ROOT = new URL("../..", import.meta.url).pathname

export const pinned = Os.availableParallelism() >= 2 && existsSync("/usr/bin/taskset")
export const SERVER_CPU = "0"
export const LOAD_CPU = "1"
export const pin = (cpu: string, command: ReadonlyArray<string>): ReadonlyArray<string> =>
  pinned ? ["taskset", "-c", cpu, ...command] : command

/** This process's hard RLIMIT_NOFILE: without CAP_SYS_RESOURCE a child cannot go above it. */
export const hardOpenFilesLimit = (): number => {
  const match = /^Max open files\s+\S+\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"))
  return match?.[1] === undefined || match[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(match[1])
}

/** The RLIMIT_NOFILE a child asking for `files` gets: capped by the hard limit. */
export const openFilesFor = (files: number): number => Math.min(files, hardOpenFilesLimit())

/**
 * Runs `command` with RLIMIT_NOFILE (soft and hard) set to `files`, capped by the hard limit, through
 * util-linux `prlimit`.
 */
export const withOpenFiles = (files: number | undefined, command: ReadonlyArray<string>) => {
  if (files === undefined) return command
  const limit = openFilesFor(files)
  return ["prlimit", `--nofile=${limit}:${limit}`, ...command]
}

/** `npm run build` (dist/) and `tsc -p tsconfig.bench.json` (dist-bench/: src + bench/servers). */
export const buildServers = () => {
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
  // src/layers/observability/Health.ts imports ../../package.json (the version): tsc emits it there too; copied to be sure.
  cpSync(join(ROOT, "package.json"), join(ROOT, "dist-bench/package.json"))
}

// --- servers ---------------------------------------------------------------------------------------

export interface ServerSpec {
  readonly id: string
  /** Script run with plain `node`, relative to the repository root. */
  readonly script: string
  readonly env: Record<string, string>
  readonly describe: string
  /** Extra `node` flags, e.g. `--cpu-prof`. */
  readonly nodeArgs?: ReadonlyArray<string>
  /** RLIMIT_NOFILE for the process (many connections need many descriptors). */
  readonly openFiles?: number
}

/** A loopback OTLP/HTTP collector that accepts every export and discards it. */
export const startSink = async () => {
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

export interface Running {
  readonly spec: ServerSpec
  readonly port: number
  readonly url: string
  readonly child: ChildProcess
  readonly dataDir: string
  readonly output: () => string
  readonly stop: () => Promise<void>
}

/** utime + stime of a process in milliseconds (clock ticks are 10 ms on Linux). */
export const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

export const rssMb = (pid: number): number => {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024
}

export const startServerProcess = async (spec: ServerSpec): Promise<Running> => {
  const dataDir = mkdtempSync(join(Os.tmpdir(), "focusforge-bench-"))
  const [command, ...args] = withOpenFiles(
    spec.openFiles,
    pin(SERVER_CPU, [process.execPath, ...(spec.nodeArgs ?? []), spec.script])
  )
  const child = spawn(command!, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      LOG_LEVEL: "Info",
      NODE_ENV: "production",
      // Benchmarks register hundreds of users from 127.0.0.1; the default is 10 per address per hour.
      REGISTER_MAX_PER_ADDRESS: "1000000",
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
  let stopping = false
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      // A server that dies under a benchmark explains the connection errors that follow: say so at once.
      if (!stopping) {
        console.error(
          `${spec.id} (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}\n${output.slice(-3000)}`
        )
      }
      resolve()
    })
  )
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll)
      stopping = true
      child.kill("SIGKILL")
      reject(new Error(`${spec.id} did not start within 90 s:\n${output}`))
    }, 90_000)
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
    url: `http://127.0.0.1:${port}`,
    child,
    dataDir,
    output: () => output,
    stop: async () => {
      stopping = true
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM")
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))])
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}

// --- load ------------------------------------------------------------------------------------------

export interface WrkResult {
  readonly rps: number
  readonly requests: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Socket errors (connect, read, write, timeout) plus responses with a status of 400 or more. */
  readonly errors: number
  readonly socketErrors: {
    readonly connect: number
    readonly read: number
    readonly write: number
    readonly timeout: number
  }
  readonly non2xx: number
  /** wrk's whole report, including what a Lua `done` printed. */
  readonly text: string
  /** CPU time wrk itself used (user + system, ms): close to the run's length means the load core was the limit. */
  readonly loadCpuMs?: number
}

const toMs = (value: string, unit: string): number =>
  Number(value) * (unit === "us" ? 0.001 : unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000)

export const parseWrk = (text: string): WrkResult => {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN)
  const requests = Number(/(\d+) requests in /.exec(text)?.[1] ?? Number.NaN)
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m").exec(text)
    return match?.[1] === undefined || match[2] === undefined ? Number.NaN : toMs(match[1], match[2])
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text)
  const socketErrors = {
    connect: Number(socket?.[1] ?? 0),
    read: Number(socket?.[2] ?? 0),
    write: Number(socket?.[3] ?? 0),
    timeout: Number(socket?.[4] ?? 0)
  }
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0)
  const socketTotal = socketErrors.connect + socketErrors.read + socketErrors.write + socketErrors.timeout
  return {
    rps,
    requests,
    p50Ms: percentile("50"),
    p99Ms: percentile("99"),
    errors: socketTotal + non2xx,
    socketErrors,
    non2xx,
    text
  }
}

/** `key=value` pairs a Lua `done` printed on lines starting with `bench:`. */
export const luaReport = (text: string): Record<string, string> =>
  Object.fromEntries(
    [...text.matchAll(/^bench: (\S+)=(.*)$/gm)].map((match) => [match[1] ?? "", (match[2] ?? "").trim()])
  )

export interface WrkOptions {
  readonly url: string
  readonly seconds: number
  readonly connections: number
  /** A wrk Lua script (method, body, headers, per-request paths, a `response` hook). */
  readonly script?: string
  /** Arguments passed to the script's `init(args)`. */
  readonly scriptArgs?: ReadonlyArray<string>
  readonly timeoutSeconds?: number
  readonly openFiles?: number
}

const execFileAsync = promisify(execFile)

/** `wrk -t1 --latency` pinned to the load core, asynchronous so the bench process (OTLP sink) keeps answering. */
export const wrk = async (options: WrkOptions): Promise<WrkResult> => {
  const args = [
    "wrk",
    "-t1",
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    "--timeout",
    `${options.timeoutSeconds ?? 10}s`,
    "--latency",
    ...(options.script === undefined ? [] : ["-s", options.script]),
    options.url,
    ...(options.scriptArgs === undefined ? [] : ["--", ...options.scriptArgs])
  ]
  const [command, ...rest] = withOpenFiles(options.openFiles, pin(LOAD_CPU, args))
  const running = execFileAsync(command!, rest, { encoding: "utf8", maxBuffer: 1 << 24 })
  // wrk's own CPU time, read while it runs (the last reading is at most 250 ms before it exits).
  const pid = running.child.pid
  let loadCpuMs = 0
  const poll = setInterval(() => {
    try {
      if (pid !== undefined) loadCpuMs = cpuMs(pid)
    } catch {
      // exited between two readings
    }
  }, 250)
  try {
    const { stdout } = await running
    return { ...parseWrk(stdout), loadCpuMs }
  } finally {
    clearInterval(poll)
  }
}

/** The wrk command line as BENCHMARKS.md shows it. */
export const wrkCommand = (options: Omit<WrkOptions, "url"> & { readonly url: string }) =>
  [
    ...withOpenFiles(options.openFiles, pin(LOAD_CPU, ["wrk"])),
    "-t1",
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    `--timeout ${options.timeoutSeconds ?? 10}s`,
    "--latency",
    ...(options.script === undefined ? [] : [`-s ${options.script}`]),
    options.url,
    ...(options.scriptArgs === undefined ? [] : ["--", ...options.scriptArgs])
  ].join(" ")

// --- setup traffic ---------------------------------------------------------------------------------

export interface JsonReply {
  readonly status: number
  readonly body: unknown
  readonly text: string
}

const setupAgent = new Http.Agent({ keepAlive: true, maxSockets: 64 })

const callOnce = (
  base: string,
  method: string,
  path: string,
  options: { readonly token?: string; readonly body?: unknown }
): Promise<JsonReply> =>
  new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
    const request = Http.request(
      `${base}${path}`,
      {
        method,
        agent: setupAgent,
        headers: {
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...(payload === undefined
            ? {}
            : { "content-type": "application/json", "content-length": String(Buffer.byteLength(payload)) })
        }
      },
      (response) => {
        const chunks: Array<Buffer> = []
        response.on("data", (chunk: Buffer) => chunks.push(chunk))
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let body: unknown = null
          try {
            body = text.length === 0 ? null : JSON.parse(text)
          } catch {
            body = null
          }
          resolve({ status: response.statusCode ?? 0, body, text })
        })
        response.on("error", reject)
      }
    )
    request.on("error", reject)
    request.end(payload)
  })

const RETRIED_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE"])

let retries = 0

/** Setup calls repeated after a connection error (reported by the benches; the timed runs never retry). */
export const setupRetries = () => retries

/**
 * One JSON call over a keep-alive pool (setup and verification traffic, never timed). A call whose
 * connection failed before an answer is sent again (up to 3 times): callers make that harmless (a
 * second task nobody uses, a registration answered `EmailTaken`).
 */
export const callJson = async (
  base: string,
  method: string,
  path: string,
  options: { readonly token?: string; readonly body?: unknown } = {}
): Promise<JsonReply> => {
  for (let attempt = 0; ; attempt++) {
    try {
      return await callOnce(base, method, path, options)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (attempt >= 3 || code === undefined || !RETRIED_CODES.has(code)) throw error
      retries++
      await sleep(100 * (attempt + 1))
    }
  }
}

/** Like `callJson`, but any status other than `expected` is an error naming the call. */
export const expectJson = async <A>(
  expected: number,
  base: string,
  method: string,
  path: string,
  options: { readonly token?: string; readonly body?: unknown } = {}
): Promise<A> => {
  const reply = await callJson(base, method, path, options)
  if (reply.status !== expected) {
    throw new Error(
      `${method} ${path}: expected ${expected}, got ${reply.status} ${reply.text.slice(0, 300)}`
    )
  }
  return reply.body as A
}

/** Runs `work` for every item with at most `concurrency` in flight; answers in input order. */
export const forEachLimited = async <A, B>(
  items: ReadonlyArray<A>,
  concurrency: number,
  work: (item: A, index: number) => Promise<B>
): Promise<Array<B>> => {
  const results = new Array<B>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return results
}

export interface BenchUser {
  readonly id: string
  readonly email: string
  readonly token: string
}

/** Registers `count` users and logs each in (the login's token is the one used). */
export const registerUsers = (base: string, count: number, prefix: string): Promise<Array<BenchUser>> =>
  // The KDF runs on libuv's pool (4 threads): more in flight would only queue there.
  forEachLimited(
    Array.from({ length: count }, (_, i) => i),
    8,
    async (i) => {
      const email = `${prefix}-${i}@bench.example`
      const password = "correct horse battery"
      const registered = await callJson(base, "POST", "/api/v1/auth/register", {
        body: { email, password, display_name: `Bench ${i}` }
      })
      // 409: a registration sent again after a connection error had gone through the first time.
      if (registered.status !== 201 && registered.status !== 409) {
        throw new Error(`register: ${registered.status} ${registered.text.slice(0, 300)}`)
      }
      const session = await expectJson<{ user: { id: string }; access_token: string }>(
        200,
        base,
        "POST",
        "/api/v1/auth/login",
        { body: { email, password } }
      )
      return { id: session.user.id, email, token: session.access_token }
    }
  )

// --- reporting -------------------------------------------------------------------------------------

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}

export const fmt = (n: number, digits = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : "–"

export const loadAverage = () =>
  Os.loadavg()
    .map((n) => n.toFixed(1))
    .join(" / ")

export const machine = () =>
  `${Os.availableParallelism()} vCPU (${Os.cpus()[0]?.model ?? "unknown CPU"}), ${Math.round(Os.totalmem() / 2 ** 30)} GiB, Node.js ${process.versions.node}`

/** Replaces the `<!-- name:start -->`…`<!-- name:end -->` section of BENCHMARKS.md, or appends it. */
export const writeSection = (name: string, section: string) => {
  const file = join(ROOT, "BENCHMARKS.md")
  const startMarker = `<!-- ${name}:start -->`
  const endMarker = `<!-- ${name}:end -->`
  const wrapped = `${startMarker}\n${section.trim()}\n${endMarker}`
  const current = readFileSync(file, "utf8")
  const start = current.indexOf(startMarker)
  const end = current.indexOf(endMarker)
  const updated =
    start === -1 || end === -1
      ? `${current.trimEnd()}\n\n${wrapped}\n`
      : `${current.slice(0, start)}${wrapped}${current.slice(end + endMarker.length)}`
  writeFileSync(file, updated)
}

export const tempFile = (name: string, content: string): string => {
  const path = join(mkdtempSync(join(Os.tmpdir(), "focusforge-bench-")), name)
  writeFileSync(path, content)
  return path
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
