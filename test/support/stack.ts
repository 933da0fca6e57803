import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync
} from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * The production topology on loopback, with the same binaries: redis-server (master + replica), two
 * app instances sharing one DATA_DIR and one Redis, a worker, Debian's nginx running a variant of the
 * repository's nginx.conf, and Prometheus when installed. Every process is started here, tracked by
 * pid and stopped by pid.
 */

export const ROOT = new URL("../..", import.meta.url).pathname

export const hasCommand = (name: string): boolean =>
  spawnSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" }).status === 0

/** Asks the OS for a free loopback port. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------------
// Config variants, generated from the committed files by documented substitutions only.
// ---------------------------------------------------------------------------------------------------

export interface LoopbackNginxOptions {
  /** Ports of the app instances, in the order of the `server backend-N:8000` lines. */
  readonly upstreamPorts: ReadonlyArray<number>
  readonly listenPort: number
  /** Directory for pid, logs and temp files (writable by the user running nginx). */
  readonly dir: string
  /** Enables the `#> ` TLS lines with this certificate, listening on `port` instead of 443. */
  readonly tls?: { readonly port: number; readonly certificate: string; readonly key: string }
}

const UPSTREAM_SERVER = /^(\s*server\s+)backend-(\d+):8000(\s.*)$/

/**
 * Substitutes, line by line: upstream `server backend-N:8000` addresses; `listen 80` (and, with TLS,
 * `listen 443`); `pid`, `error_log`, `access_log` and `*_temp_path` paths; with TLS, the `#> ` markers
 * and the two certificate paths. Nothing else changes (the deploy test checks this).
 */
export const loopbackNginxConf = (source: string, options: LoopbackNginxOptions): string => {
  const { dir, tls } = options
  return source
    .split("\n")
    .map((line) => {
      let out = tls ? line.replace(/^(\s*)#> /, "$1") : line
      const upstream = UPSTREAM_SERVER.exec(out)
      if (upstream) {
        const port = options.upstreamPorts[Number(upstream[2]) - 1]
        if (port === undefined) throw new Error(`no loopback port for backend-${upstream[2]}`)
        return `${upstream[1]}127.0.0.1:${port}${upstream[3]}`
      }
      out = out
        .replace(/^(\s*)listen 80;/, `$1listen 127.0.0.1:${options.listenPort};`)
        .replace(/^(\s*)pid \S+;/, `$1pid ${join(dir, "nginx.pid")};`)
        .replace(/^(\s*)error_log \/[^\s;]+/, `$1error_log ${join(dir, "nginx-error.log")}`)
        .replace(/^(\s*)access_log \/[^\s;]+/, `$1access_log ${join(dir, "nginx-access.log")}`)
        .replace(
          /^(\s*)(\w+_temp_path) \S+\/(\w+);/,
          (_, indent: string, directive: string, name: string) => {
            return `${indent}${directive} ${join(dir, `nginx-${name}`)};`
          }
        )
      if (tls) {
        out = out
          .replace(/^(\s*)listen 443 /, `$1listen 127.0.0.1:${tls.port} `)
          .replace(/^(\s*)ssl_certificate \S+;/, `$1ssl_certificate ${tls.certificate};`)
          .replace(/^(\s*)ssl_certificate_key \S+;/, `$1ssl_certificate_key ${tls.key};`)
      }
      return out
    })
    .join("\n")
}

export interface LoopbackPrometheusOptions {
  readonly backendPorts: ReadonlyArray<number>
  readonly selfPort: number
  readonly rulesFile: string
  /** A file holding the backends' METRICS_TOKEN (compose mounts it at /run/secrets/metrics_token). */
  readonly tokenFile: string
}

/**
 * Substitutes the target addresses (`backend-N:8000`, `localhost:9090`), the rule file path, the token
 * file path and the two global intervals (15 s -> 2 s, so targets are scraped within a test's patience).
 */
export const loopbackPrometheusConf = (source: string, options: LoopbackPrometheusOptions): string =>
  source
    .replace(/\bbackend-(\d+):8000\b/g, (_, n: string) => {
      const port = options.backendPorts[Number(n) - 1]
      if (port === undefined) throw new Error(`no loopback port for backend-${n}`)
      return `127.0.0.1:${port}`
    })
    .replace(/\blocalhost:9090\b/g, `127.0.0.1:${options.selfPort}`)
    .replace(/\/etc\/prometheus\/alerts\.yml/g, options.rulesFile)
    .replace(/\/run\/secrets\/metrics_token/g, options.tokenFile)
    .replace(/^(\s*)(scrape_interval|evaluation_interval): 15s$/gm, "$1$2: 2s")

// ---------------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------------

interface Tracked {
  readonly name: string
  readonly child: ChildProcess
  readonly exited: Promise<number | string>
  readonly log: string
}

const isRunning = (tracked: Tracked) => tracked.child.exitCode === null && tracked.child.signalCode === null

/** Sends a signal to one pid and waits for the exit; SIGKILL after `graceMs`. */
const stopTracked = async (tracked: Tracked, signal: NodeJS.Signals, graceMs = 15_000) => {
  const pid = tracked.child.pid
  if (pid === undefined || !isRunning(tracked)) return tracked.exited
  process.kill(pid, signal)
  const timer = setTimeout(() => {
    if (isRunning(tracked)) process.kill(pid, "SIGKILL")
  }, graceMs)
  const code = await tracked.exited
  clearTimeout(timer)
  return code
}

const launch = (
  name: string,
  dir: string,
  command: string,
  args: ReadonlyArray<string>,
  env?: NodeJS.ProcessEnv
) => {
  const log = join(dir, `${name}.log`)
  // Output goes to a file, not a pipe: nobody may stop reading it while the process keeps writing.
  const fd = openSync(log, "a")
  const child = spawn(command, [...args], { cwd: ROOT, env: env ?? process.env, stdio: ["ignore", fd, fd] })
  closeSync(fd)
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
    child.once("error", (error) => resolve(error.message))
  })
  return { name, child, exited, log } satisfies Tracked
}

/** Polls until `probe` holds; gives up early when the process it waits for has exited. */
const waitFor = async (what: string, probe: () => Promise<boolean>, timeoutMs: number, process?: Tracked) => {
  const deadline = Date.now() + timeoutMs
  const tail = () =>
    process ? `\n--- ${process.log} ---\n${readFileSync(process.log, "utf8").slice(-4000)}` : ""
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return
    if (process && !isRunning(process)) throw new Error(`${what} exited before it was ready${tail()}`)
    await sleep(100)
  }
  throw new Error(`${what} not ready within ${timeoutMs} ms${tail()}`)
}

export const httpStatus = (url: string, headers: Record<string, string> = {}): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = Http.get(url, { agent: false, headers, timeout: 5_000 }, (res) => {
      res.resume()
      res.on("end", () => resolve(res.statusCode ?? 0))
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", reject)
  })

/** Speaks just enough RESP to authenticate and run one inline command. */
export const redisCommand = (port: number, password: string, command: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect(port, "127.0.0.1")
    let reply = ""
    socket.setTimeout(3_000, () => socket.destroy(new Error("redis timeout")))
    socket.on("connect", () => socket.write(`AUTH ${password}\r\n${command}\r\nQUIT\r\n`))
    socket.on("data", (chunk) => {
      reply += chunk.toString()
    })
    socket.on("close", () => resolve(reply))
    socket.on("error", reject)
  })

// ---------------------------------------------------------------------------------------------------
// The stack
// ---------------------------------------------------------------------------------------------------

export interface StackOptions {
  /** Start Prometheus when it is installed (default true). */
  readonly prometheus?: boolean
  /** Keep the working directory (logs, generated configs) after stop. */
  readonly keepDir?: boolean
  /** Fixed nginx port (default: a free one). */
  readonly nginxPort?: number
  readonly drainMs?: number
  /**
   * What the app instances run (default `src/main.ts`). `test/support/testServer.ts` is the same API
   * with a clock tests can move, for rules decided by server time (a block's pay).
   */
  readonly appEntry?: "src/main.ts" | "test/support/testServer.ts"
}

export interface AppInstance {
  readonly id: string
  readonly port: number
  readonly url: string
}

export interface Stack {
  readonly dir: string
  /** nginx, the only entry point. */
  readonly url: string
  readonly instances: ReadonlyArray<AppInstance>
  readonly redisUrl: string
  readonly prometheusUrl: string | undefined
  /** The instances' METRICS_TOKEN (production mode requires one), also Prometheus's bearer token. */
  readonly metricsToken: string
  readonly pids: () => Record<string, number | undefined>
  /** Stops one app instance by pid with the given signal and waits for its exit. */
  readonly stopInstance: (index: number, signal?: NodeJS.Signals) => Promise<number | string>
  /** Starts one app instance again on its port and waits until it is ready. */
  readonly startInstance: (index: number) => Promise<void>
  readonly stop: () => Promise<void>
}

export const startStack = async (options: StackOptions = {}): Promise<Stack> => {
  for (const binary of ["nginx", "redis-server"]) {
    if (!hasCommand(binary)) throw new Error(`${binary} is not installed (apt-get install -y ${binary})`)
  }
  const dir = mkdtempSync(join(tmpdir(), "focusforge-stack-"))
  // nginx workers drop to `nobody` when started as root: they must reach the temp directories.
  chmodSync(dir, 0o755)
  const dataDir = join(dir, "data")
  mkdirSync(dataDir)
  const tracked = new Map<string, Tracked>()
  const emergencyKill = () => {
    for (const t of tracked.values()) if (isRunning(t) && t.child.pid) process.kill(t.child.pid, "SIGKILL")
  }
  process.once("exit", emergencyKill)

  const stop = async () => {
    process.off("exit", emergencyKill)
    // Front to back: nobody keeps sending to a process that is gone.
    for (const name of ["nginx", "prometheus", "worker", "app-1", "app-2", "redis-replica", "redis-master"]) {
      const t = tracked.get(name)
      if (t) await stopTracked(t, "SIGTERM")
    }
    if (!options.keepDir) rmSync(dir, { recursive: true, force: true })
  }

  try {
    const password = randomBytes(24).toString("hex")
    const [redisMaster, redisReplica, app1, app2, nginxPort, prometheusPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      options.nginxPort ? Promise.resolve(options.nginxPort) : freePort(),
      freePort()
    ])

    // Redis master + replica, password in 0600 files (not on the command line).
    const redis = async (name: string, port: number, extra: string) => {
      const conf = join(dir, `${name}.conf`)
      const data = join(dir, name)
      mkdirSync(data)
      writeFileSync(
        conf,
        `bind 127.0.0.1\nport ${port}\nrequirepass "${password}"\nmasterauth "${password}"\n` +
          `save ""\nappendonly no\ndir ${data}\n${extra}`,
        { mode: 0o600 }
      )
      const t = launch(name, dir, "redis-server", [conf])
      tracked.set(name, t)
      await waitFor(
        name,
        async () => (await redisCommand(port, password, "PING")).includes("+PONG"),
        10_000,
        t
      )
    }
    await redis("redis-master", redisMaster, "")
    await redis("redis-replica", redisReplica, `replicaof 127.0.0.1 ${redisMaster}\n`)
    await waitFor(
      "redis replication link",
      async () =>
        (await redisCommand(redisReplica, password, "INFO replication")).includes("master_link_status:up"),
      15_000
    )
    const redisUrl = `redis://:${password}@127.0.0.1:${redisMaster}/0`

    // App instances and the worker: production mode, one generated JWT secret, one DATA_DIR, one Redis.
    const { MONGODB_URI: _ignored, ...inherited } = process.env
    const jwtSecret = randomBytes(48).toString("base64url")
    const metricsToken = randomBytes(24).toString("base64url")
    const appEnv = (id: string, port: number): NodeJS.ProcessEnv => ({
      ...inherited,
      FF_MODE: "production",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATA_DIR: dataDir,
      REDIS_URL: redisUrl,
      JWT_SECRET: jwtSecret,
      METRICS_TOKEN: metricsToken,
      INSTANCE_ID: id,
      SHUTDOWN_DRAIN_MS: String(options.drainMs ?? 10_000),
      LOG_LEVEL: "Info"
    })
    const instances: Array<AppInstance> = [
      { id: "app-1", port: app1, url: `http://127.0.0.1:${app1}` },
      { id: "app-2", port: app2, url: `http://127.0.0.1:${app2}` }
    ]
    const startApp = async (index: number) => {
      const instance = instances[index]
      if (!instance) throw new Error(`no app instance ${index}`)
      const t = launch(
        instance.id,
        dir,
        process.execPath,
        ["--import", "tsx", options.appEntry ?? "src/main.ts"],
        appEnv(instance.id, instance.port)
      )
      tracked.set(instance.id, t)
      await waitFor(
        instance.id,
        async () => {
          return (await httpStatus(`${instance.url}/health/ready`)) === 200
        },
        60_000,
        t
      )
    }
    await Promise.all(instances.map((_, index) => startApp(index)))

    const worker = launch(
      "worker",
      dir,
      process.execPath,
      ["--import", "tsx", "src/worker.ts"],
      appEnv("worker-1", 0)
    )
    tracked.set("worker", worker)
    await waitFor(
      "worker",
      async () => readFileSync(worker.log, "utf8").includes("worker started"),
      60_000,
      worker
    )

    // nginx in front, from the repository's nginx.conf.
    const nginxConf = join(dir, "nginx.conf")
    writeFileSync(
      nginxConf,
      loopbackNginxConf(readFileSync(join(ROOT, "nginx.conf"), "utf8"), {
        upstreamPorts: [app1, app2],
        listenPort: nginxPort,
        dir
      })
    )
    const errorLog = join(dir, "nginx-error.log")
    const check = spawnSync("nginx", ["-t", "-q", "-c", nginxConf, "-e", errorLog], { encoding: "utf8" })
    if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`)
    const nginx = launch("nginx", dir, "nginx", ["-c", nginxConf, "-e", errorLog, "-g", "daemon off;"])
    tracked.set("nginx", nginx)
    const url = `http://127.0.0.1:${nginxPort}`
    await waitFor("nginx", async () => (await httpStatus(`${url}/nginx-health`)) === 200, 10_000, nginx)

    let prometheusUrl: string | undefined
    if (options.prometheus !== false && hasCommand("prometheus")) {
      const promConf = join(dir, "prometheus.yml")
      const tokenFile = join(dir, "metrics-token")
      writeFileSync(tokenFile, metricsToken, { mode: 0o600 })
      writeFileSync(
        promConf,
        loopbackPrometheusConf(readFileSync(join(ROOT, "deploy/prometheus.yml"), "utf8"), {
          backendPorts: [app1, app2],
          selfPort: prometheusPort,
          rulesFile: join(ROOT, "deploy/prometheus/alerts.yml"),
          tokenFile
        })
      )
      const prometheus = launch("prometheus", dir, "prometheus", [
        `--config.file=${promConf}`,
        `--storage.tsdb.path=${join(dir, "prometheus-data")}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`
      ])
      tracked.set("prometheus", prometheus)
      prometheusUrl = `http://127.0.0.1:${prometheusPort}`
      const readyUrl = `${prometheusUrl}/-/ready`
      await waitFor("prometheus", async () => (await httpStatus(readyUrl)) === 200, 30_000, prometheus)
    }

    return {
      dir,
      url,
      instances,
      redisUrl,
      prometheusUrl,
      metricsToken,
      pids: () => Object.fromEntries([...tracked].map(([name, t]) => [name, t.child.pid])),
      stopInstance: async (index, signal = "SIGTERM") => {
        const t = tracked.get(instances[index]?.id ?? "")
        if (!t) throw new Error(`no app instance ${index}`)
        return stopTracked(t, signal)
      },
      startInstance: startApp,
      stop
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/**
 * Runs a bundled entry point the way the image does (`node dist/main.mjs`) on a free port, checks
 * liveness, then sends SIGTERM and reports the exit code.
 */
export const runCompiled = async (entry: string): Promise<{ live: number; exit: number | string }> => {
  const dir = mkdtempSync(join(tmpdir(), "focusforge-compiled-"))
  const env = { ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: dir, LOG_LEVEL: "Info" }
  const tracked = launch("compiled", dir, process.execPath, [entry], env)
  try {
    let port = 0
    await waitFor(
      "compiled server",
      async () => {
        port = Number(/Listening on http:\/\/[^:]+:(\d+)/.exec(readFileSync(tracked.log, "utf8"))?.[1] ?? 0)
        return port > 0
      },
      60_000,
      tracked
    )
    const live = await httpStatus(`http://127.0.0.1:${port}/health/live`)
    return { live, exit: await stopTracked(tracked, "SIGTERM") }
  } finally {
    await stopTracked(tracked, "SIGKILL")
    rmSync(dir, { recursive: true, force: true })
  }
}
