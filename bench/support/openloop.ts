/**
 * An open-loop HTTP load generator (wrk2 is not in Debian): requests leave on a fixed schedule of
 * intended send times, `rate` per second, whatever the server answers, and each latency is measured
 * from the request's INTENDED send time. A request whose turn comes while every connection is busy
 * waits in the node:http Agent's queue, and that wait is part of its latency: a stalled server shows as
 * a long tail, not as fewer requests (no coordinated omission, unlike a closed loop such as wrk).
 *
 * Run as its own process, pinned to the load core by bench/peer.ts:
 *   node bench/support/openloop.ts <config.json>      (plain node: erasable TypeScript only)
 * It prints one JSON `OpenLoopReport` on stdout. Optionally `concurrentLogins` closed-loop workers log
 * in over their own connections for the whole run (the login storm of issue 16's row).
 */
import * as Http from "node:http"
import { readFileSync } from "node:fs"
import { mulberry32 } from "./prng.ts"

export type RequestKind = "profile" | "dashboard" | "tasks" | "mood" | "block" | "login"

export interface OpenLoopUser {
  readonly token: string
  readonly email: string
  readonly password: string
  /** Blocks worked through in order, start then complete (a task's blocks are listed in position order). */
  readonly blocks: ReadonlyArray<{ readonly task: string; readonly block: string }>
}

export interface OpenLoopConfig {
  readonly url: string
  readonly rate: number
  readonly seconds: number
  readonly connections: number
  /** How long to wait for the last answers after the schedule ends; unanswered ones are errors. */
  readonly drainSeconds: number
  readonly users: ReadonlyArray<OpenLoopUser>
  readonly mix: ReadonlyArray<{ readonly kind: RequestKind; readonly weight: number }>
  /** Closed-loop login workers running alongside the schedule (0 or absent: none). */
  readonly concurrentLogins?: number
  readonly seed: number
}

export interface LatencySummary {
  readonly count: number
  readonly ok: number
  /** Answers with a status outside 2xx, by status. */
  readonly statuses: Record<string, number>
  /** Connection errors, timeouts and requests still unanswered when the drain ended. */
  readonly errors: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
}

export interface OpenLoopReport {
  readonly scheduled: number
  readonly seconds: number
  /** Answers (any status) per second of the schedule. */
  readonly rps: number
  readonly all: LatencySummary
  readonly byClass: Record<string, LatencySummary>
  readonly byKind: Record<string, LatencySummary>
  /** The generator's own lag: the latest a request left after its intended time (ms). */
  readonly maxSendLagMs: number
  readonly connectionsOpened: number
  /** Block commands that found no user free to take its next step (sent as a mood write instead). */
  readonly blockStarved: number
  readonly storm?: LatencySummary
}

const CLASS: Record<RequestKind, string> = {
  profile: "read",
  dashboard: "read",
  tasks: "read",
  mood: "write",
  block: "write",
  login: "login"
}

const REQUEST_TIMEOUT_MS = 10_000

class Recorder {
  private latencies: Array<number> = []
  private statuses: Record<string, number> = {}
  private ok = 0
  private errors = 0
  count = 0

  answer(status: number, ms: number) {
    this.count++
    this.latencies.push(ms)
    if (status >= 200 && status < 300) this.ok++
    else this.statuses[String(status)] = (this.statuses[String(status)] ?? 0) + 1
  }

  error() {
    this.count++
    this.errors++
  }

  summary(): LatencySummary {
    const sorted = Float64Array.from(this.latencies).sort()
    const at = (q: number) =>
      sorted.length === 0
        ? Number.NaN
        : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
    return {
      count: this.count,
      ok: this.ok,
      statuses: this.statuses,
      errors: this.errors,
      p50Ms: at(0.5),
      p90Ms: at(0.9),
      p99Ms: at(0.99),
      p999Ms: at(0.999),
      maxMs: sorted.length === 0 ? Number.NaN : sorted[sorted.length - 1]!
    }
  }
}

interface Outgoing {
  readonly method: string
  readonly path: string
  readonly token?: string
  readonly body?: string
}

/**
 * One request; calls `done` exactly once with the status (0 for a connection error or timeout) and the
 * answer's `Retry-After` in seconds, when it has one.
 */
const send = (
  agent: Http.Agent,
  base: URL,
  out: Outgoing,
  onSocket: (socket: object) => void,
  done: (status: number, retryAfterSeconds?: number) => void
) => {
  let finished = false
  const finish = (status: number, retryAfterSeconds?: number) => {
    if (finished) return
    finished = true
    done(status, retryAfterSeconds)
  }
  const headers: Record<string, string> = {}
  if (out.token !== undefined) headers.authorization = `Bearer ${out.token}`
  if (out.body !== undefined) {
    headers["content-type"] = "application/json"
    headers["content-length"] = String(Buffer.byteLength(out.body))
  }
  const request = Http.request(
    { host: base.hostname, port: base.port, method: out.method, path: out.path, agent, headers },
    (response) => {
      response.on("data", () => {})
      const retryAfter = Number(response.headers["retry-after"])
      response.on("end", () =>
        finish(response.statusCode ?? 0, Number.isFinite(retryAfter) ? retryAfter : undefined)
      )
      response.on("error", () => finish(0))
    }
  )
  request.on("socket", onSocket)
  request.setTimeout(REQUEST_TIMEOUT_MS, () => {
    request.destroy()
    finish(0)
  })
  request.on("error", () => finish(0))
  request.end(out.body)
}

/** Per user: where it stands in its blocks, and whether a block command of it is in flight. */
interface BlockCursor {
  index: number
  phase: "start" | "complete"
  busy: boolean
}

export const runOpenLoop = async (config: OpenLoopConfig): Promise<OpenLoopReport> => {
  const base = new URL(config.url)
  const agent = new Http.Agent({
    keepAlive: true,
    maxSockets: config.connections,
    maxFreeSockets: config.connections,
    scheduling: "fifo"
  })
  const sockets = new WeakSet<object>()
  let opened = 0
  const countSocket = (socket: object) => {
    if (sockets.has(socket)) return
    sockets.add(socket)
    opened++
  }

  const next = mulberry32(config.seed)
  const totalWeight = config.mix.reduce((sum, m) => sum + m.weight, 0)
  const pickKind = (): RequestKind => {
    let r = next() * totalWeight
    for (const m of config.mix) {
      r -= m.weight
      if (r < 0) return m.kind
    }
    return config.mix[config.mix.length - 1]!.kind
  }
  const users = config.users
  const cursors: Array<BlockCursor> = users.map(() => ({ index: 0, phase: "start", busy: false }))
  let userTurn = 0
  let blockTurn = 0
  let loginTurn = 0
  let blockStarved = 0

  /** The next user (round robin) free to take its next block step, or undefined. */
  const blockUser = (): number | undefined => {
    for (let tries = 0; tries < users.length; tries++) {
      const u = blockTurn
      blockTurn = (blockTurn + 1) % users.length
      const c = cursors[u]!
      if (!c.busy && c.index < users[u]!.blocks.length) return u
    }
    return undefined
  }

  const moodBody = (i: number) =>
    JSON.stringify({ score: (i % 10) + 1, energy: ((i + 3) % 10) + 1, stress: ((i + 6) % 10) + 1 })

  /** What the i-th scheduled request is; a block step marks its user busy until `onAnswer` runs. */
  const build = (i: number): { kind: RequestKind; out: Outgoing; onAnswer?: () => void } => {
    let kind = pickKind()
    const user = users[userTurn]!
    userTurn = (userTurn + 1) % users.length
    if (kind === "block") {
      const u = blockUser()
      if (u !== undefined) {
        const c = cursors[u]!
        const { task, block } = users[u]!.blocks[c.index]!
        c.busy = true
        const phase = c.phase
        return {
          kind,
          out: {
            method: "POST",
            path: `/api/v1/tasks/${task}/blocks/${block}/${phase}`,
            token: users[u]!.token,
            ...(phase === "complete" ? { body: '{"effort_rating":7}' } : {})
          },
          onAnswer: () => {
            // Whatever the answer, the user moves on: a failed step is counted, never retried.
            c.busy = false
            if (phase === "start") c.phase = "complete"
            else {
              c.phase = "start"
              c.index++
            }
          }
        }
      }
      blockStarved++
      kind = "mood"
    }
    switch (kind) {
      case "profile":
        return { kind, out: { method: "GET", path: "/api/v1/store/profile", token: user.token } }
      case "dashboard":
        return { kind, out: { method: "GET", path: "/api/v1/tasks/dashboard", token: user.token } }
      case "tasks":
        return { kind, out: { method: "GET", path: "/api/v1/tasks?limit=20", token: user.token } }
      case "mood":
        return { kind, out: { method: "POST", path: "/api/v1/mood", token: user.token, body: moodBody(i) } }
      default: {
        const login = users[loginTurn]!
        loginTurn = (loginTurn + 1) % users.length
        return {
          kind: "login",
          out: {
            method: "POST",
            path: "/api/v1/auth/login",
            body: JSON.stringify({ email: login.email, password: login.password })
          }
        }
      }
    }
  }

  const all = new Recorder()
  const byClass = new Map<string, Recorder>()
  const byKind = new Map<string, Recorder>()
  const recorder = (map: Map<string, Recorder>, key: string) => {
    let r = map.get(key)
    if (r === undefined) {
      r = new Recorder()
      map.set(key, r)
    }
    return r
  }

  const total = Math.round(config.rate * config.seconds)
  const interval = 1000 / config.rate
  let inFlight = 0
  let closed = false
  const inFlightByKind = new Map<RequestKind, number>()
  let maxSendLagMs = 0
  let sent = 0
  const startAt = performance.now() + 50
  const endAt = startAt + config.seconds * 1000

  // The login storm: closed-loop workers over their own connections, for as long as the schedule runs.
  const storm = new Recorder()
  const stormAgent = new Http.Agent({ keepAlive: true, maxSockets: config.concurrentLogins ?? 1 })
  const stormWorkers = Array.from({ length: config.concurrentLogins ?? 0 }, async (_, w) => {
    while (performance.now() < startAt) await new Promise((resolve) => setTimeout(resolve, 5))
    for (let n = w; performance.now() < endAt; n += config.concurrentLogins ?? 1) {
      const login = users[n % users.length]!
      const began = performance.now()
      const { status, retryAfter } = await new Promise<{ status: number; retryAfter?: number }>((resolve) =>
        send(
          stormAgent,
          base,
          {
            method: "POST",
            path: "/api/v1/auth/login",
            body: JSON.stringify({ email: login.email, password: login.password })
          },
          countSocket,
          (status, retryAfter) => resolve(retryAfter === undefined ? { status } : { status, retryAfter })
        )
      )
      if (status === 0) storm.error()
      else storm.answer(status, performance.now() - began)
      // A client as the app is written: told to come back later (503/429 + Retry-After), it waits. A
      // worker that retried at once would measure its own retry storm, not the logins.
      if (retryAfter !== undefined && (status === 503 || status === 429)) {
        const waitMs = Math.min(retryAfter * 1000, Math.max(0, endAt - performance.now()))
        await new Promise((resolve) => setTimeout(resolve, waitMs))
      }
    }
  })

  await new Promise<void>((resolve) => {
    const dispatch = () => {
      const now = performance.now()
      while (sent < total && startAt + sent * interval <= now) {
        const intended = startAt + sent * interval
        maxSendLagMs = Math.max(maxSendLagMs, now - intended)
        const { kind, out, onAnswer } = build(sent)
        sent++
        inFlight++
        inFlightByKind.set(kind, (inFlightByKind.get(kind) ?? 0) + 1)
        send(agent, base, out, countSocket, (status) => {
          // An answer after the drain ended was already counted as unanswered.
          if (closed) return
          inFlight--
          inFlightByKind.set(kind, (inFlightByKind.get(kind) ?? 0) - 1)
          onAnswer?.()
          const rs = [all, recorder(byClass, CLASS[kind]), recorder(byKind, kind)]
          const ms = performance.now() - intended
          for (const r of rs) {
            if (status === 0) r.error()
            else r.answer(status, ms)
          }
        })
      }
      if (sent < total) setTimeout(dispatch, Math.max(0, Math.min(1, startAt + sent * interval - now)))
      else resolve()
    }
    setTimeout(dispatch, Math.max(0, startAt - performance.now()))
  })
  const drainUntil = performance.now() + config.drainSeconds * 1000
  while (inFlight > 0 && performance.now() < drainUntil)
    await new Promise((resolve) => setTimeout(resolve, 10))
  const unanswered = inFlight
  closed = true
  for (const [kind, count] of inFlightByKind) {
    for (let i = 0; i < count; i++) {
      for (const r of [all, recorder(byClass, CLASS[kind]), recorder(byKind, kind)]) r.error()
    }
  }
  await Promise.all(stormWorkers)
  agent.destroy()
  stormAgent.destroy()

  const summaries = (map: Map<string, Recorder>) =>
    Object.fromEntries([...map].map(([key, r]) => [key, r.summary()]))
  return {
    scheduled: total,
    seconds: config.seconds,
    rps: (all.count - unanswered) / config.seconds,
    all: all.summary(),
    byClass: summaries(byClass),
    byKind: summaries(byKind),
    maxSendLagMs,
    connectionsOpened: opened,
    blockStarved,
    ...(config.concurrentLogins ? { storm: storm.summary() } : {})
  }
}

if (import.meta.main) {
  const config = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as OpenLoopConfig
  const report = await runOpenLoop(config)
  process.stdout.write(`${JSON.stringify(report)}\n`)
}
