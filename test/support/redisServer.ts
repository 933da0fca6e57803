import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createServer, Socket } from "node:net"

/** The shared Redis every helper's tests use; keys go under a random prefix per run. */
export const SHARED_REDIS_URL = "redis://127.0.0.1:6379"

export const testPrefix = (): string => `ff:test:${randomBytes(6).toString("hex")}:`

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const answersPing = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = new Socket()
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("error", () => done(false))
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"))
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")))
  })

export interface RedisProcess {
  readonly port: number
  readonly url: string
  readonly pid: number
  /** Kills it by its pid (SIGKILL: an outage, not a shutdown) and waits for the exit. */
  readonly kill: () => Promise<void>
}

/** A private, non-persistent redis-server child on `port`, ready to answer when this resolves. */
export const startRedis = async (port?: number): Promise<RedisProcess> => {
  const chosen = port ?? (await freePort())
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(chosen), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: "ignore" }
  )
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const deadline = Date.now() + 10_000
  while (!(await answersPing(chosen))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL")
      throw new Error(`redis-server on port ${chosen} did not start`)
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  const pid = child.pid!
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    pid,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, "SIGKILL")
      await exited
    }
  }
}

/** Polls `check` until it holds, failing after `timeoutMs` (a generous bound, not a timing assertion). */
export const eventually = async (
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
  everyMs = 20
) => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
}
