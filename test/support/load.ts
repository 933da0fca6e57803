import * as Http from "node:http"
import { performance } from "node:perf_hooks"

/**
 * A small, bounded load loop for the fault suite: a few concurrent keep-alive clients, each running a
 * scenario of realistic API calls round after round, recording every request and how it ended. Traffic
 * goes only to the base URL given (127.0.0.1 in the tests) and stops at `maxRequests` or `maxMs`,
 * whichever comes first.
 */

/** How one request ended, seen from the client. */
export type Outcome =
  /** A complete response: every byte the server announced arrived. */
  | { readonly kind: "response"; readonly status: number; readonly text: string }
  /** Headers arrived, then the body was cut off: the worst outcome, a truncated answer. */
  | { readonly kind: "partial"; readonly status: number; readonly error: string }
  /** No response at all (refused, reset before any byte, timed out). */
  | { readonly kind: "error"; readonly code: string }

export interface Sample {
  readonly client: number
  readonly label: string
  readonly method: string
  readonly path: string
  /** performance.now() when the request was handed to the socket pool. */
  readonly startedAt: number
  endedAt: number | undefined
  outcome: Outcome | undefined
  /** A complete response with a 2xx status or one of the statuses the caller declared expected. */
  ok: boolean
}

export interface Reply {
  readonly status: number
  readonly text: string
  readonly json: () => unknown
}

/** Thrown out of a scenario when its call did not end as expected (already recorded): the round ends. */
export class CallFailed extends Error {
  constructor(readonly sample: Sample) {
    super(`${sample.label} failed: ${describeOutcome(sample.outcome)}`)
  }
}

/** Thrown out of a scenario once the load is stopping: the client stops issuing requests. */
export class Stopped extends Error {
  constructor() {
    super("load stopped")
  }
}

export interface CallOptions {
  readonly token?: string
  readonly body?: unknown
  readonly headers?: Record<string, string>
  /** Statuses besides 2xx that count as a correct answer (an expected 404, 409…). */
  readonly expect?: ReadonlyArray<number>
}

export interface LoadClient {
  readonly index: number
  /** Sends one request and records it. Answers the reply when `ok`; throws CallFailed or Stopped. */
  readonly call: (label: string, method: string, path: string, options?: CallOptions) => Promise<Reply>
}

export interface Load {
  /** Every request so far, in the order they were sent. */
  readonly samples: ReadonlyArray<Sample>
  /** Requests sent that have not ended yet. */
  readonly inFlight: () => ReadonlyArray<Sample>
  /** Requests that did not end `ok`. */
  readonly failures: () => ReadonlyArray<Sample>
  /** Stops issuing new requests at once; requests already sent still run to their end. */
  readonly halt: () => void
  /** Halts, waits for every client to finish its request in flight, and closes the sockets. */
  readonly stop: () => Promise<void>
  /** How many requests per label, how many of them ok; then the first that were not. */
  readonly summary: () => string
}

export const describeOutcome = (outcome: Outcome | undefined): string =>
  outcome === undefined
    ? "still in flight"
    : outcome.kind === "response"
      ? `${outcome.status} ${outcome.text.slice(0, 200)}`
      : outcome.kind === "partial"
        ? `${outcome.status} cut off: ${outcome.error}`
        : outcome.code

/** One request over the agent's keep-alive sockets, resolved with how it ended (never rejects). */
export const send = (
  agent: Http.Agent,
  url: string,
  options: {
    readonly method: string
    readonly headers?: Record<string, string>
    readonly body?: string
    readonly timeoutMs: number
  }
): Promise<Outcome> =>
  new Promise((resolve) => {
    let settled = false
    let response: Http.IncomingMessage | undefined
    const settle = (outcome: Outcome) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(outcome)
    }
    const req = Http.request(
      url,
      {
        method: options.method,
        agent,
        headers: {
          ...(options.body === undefined
            ? {}
            : { "content-length": String(Buffer.byteLength(options.body)) }),
          ...options.headers
        }
      },
      (res) => {
        response = res
        const status = res.statusCode ?? 0
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("aborted", () => settle({ kind: "partial", status, error: "aborted" }))
        res.on("error", (error: NodeJS.ErrnoException) =>
          settle({ kind: "partial", status, error: error.code ?? error.message })
        )
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          const declared = res.headers["content-length"]
          if (!res.complete) settle({ kind: "partial", status, error: "incomplete message" })
          else if (declared !== undefined && Number(declared) !== Buffer.byteLength(text)) {
            settle({ kind: "partial", status, error: `${Buffer.byteLength(text)} of ${declared} bytes` })
          } else settle({ kind: "response", status, text })
        })
      }
    )
    const timer = setTimeout(() => {
      const status = response?.statusCode
      settle(
        status === undefined
          ? { kind: "error", code: "TIMEOUT" }
          : { kind: "partial", status, error: "TIMEOUT" }
      )
      req.destroy()
    }, options.timeoutMs)
    req.on("error", (error: NodeJS.ErrnoException) => {
      const status = response?.statusCode
      const code = error.code ?? error.message
      settle(status === undefined ? { kind: "error", code } : { kind: "partial", status, error: code })
    })
    req.end(options.body)
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Starts `clients` concurrent clients, each calling `round(client, n)` for n = 0, 1, 2… until the load
 * stops (`stop`/`halt`, `maxMs` elapsed or `maxRequests` sent). A round that throws CallFailed just ends;
 * the client goes on with the next one after a short pause (so a refused connection cannot spin).
 */
export const startLoad = (options: {
  readonly base: string
  readonly clients: number
  readonly round: (client: LoadClient, round: number) => Promise<void>
  readonly maxMs: number
  readonly maxRequests: number
  /** Per request; a request without an answer by then is recorded as TIMEOUT. */
  readonly timeoutMs?: number
}): Load => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets: options.clients })
  const samples: Array<Sample> = []
  const pending = new Set<Sample>()
  let halted = false
  const halt = () => {
    halted = true
  }
  const hardStop = setTimeout(halt, options.maxMs)

  const clientFor = (index: number): LoadClient => ({
    index,
    call: async (label, method, path, callOptions = {}) => {
      if (halted || samples.length >= options.maxRequests) {
        halted = true
        throw new Stopped()
      }
      const sample: Sample = {
        client: index,
        label,
        method,
        path,
        startedAt: performance.now(),
        endedAt: undefined,
        outcome: undefined,
        ok: false
      }
      samples.push(sample)
      pending.add(sample)
      const outcome = await send(agent, `${options.base}${path}`, {
        method,
        headers: {
          ...(callOptions.token === undefined ? {} : { authorization: `Bearer ${callOptions.token}` }),
          ...(callOptions.body === undefined ? {} : { "content-type": "application/json" }),
          ...callOptions.headers
        },
        ...(callOptions.body === undefined ? {} : { body: JSON.stringify(callOptions.body) }),
        timeoutMs: options.timeoutMs ?? 30_000
      })
      pending.delete(sample)
      sample.endedAt = performance.now()
      sample.outcome = outcome
      sample.ok =
        outcome.kind === "response" &&
        ((outcome.status >= 200 && outcome.status < 300) ||
          (callOptions.expect ?? []).includes(outcome.status))
      if (!sample.ok || outcome.kind !== "response") throw new CallFailed(sample)
      const text = outcome.text
      return { status: outcome.status, text, json: () => JSON.parse(text) }
    }
  })

  const runClient = async (index: number) => {
    const client = clientFor(index)
    for (let round = 0; !halted; round++) {
      try {
        await options.round(client, round)
      } catch (error) {
        if (error instanceof Stopped) return
        if (!(error instanceof CallFailed)) throw error
        await sleep(10)
      }
    }
  }
  const clients = Promise.all(Array.from({ length: options.clients }, (_, i) => runClient(i)))

  const failures = () => samples.filter((s) => s.outcome !== undefined && !s.ok)
  return {
    samples,
    inFlight: () => [...pending],
    failures,
    halt,
    stop: async () => {
      halt()
      try {
        await clients
      } finally {
        clearTimeout(hardStop)
        agent.destroy()
      }
    },
    summary: () => {
      const labels = new Map<string, { sent: number; ok: number }>()
      for (const s of samples) {
        const entry = labels.get(s.label) ?? { sent: 0, ok: 0 }
        entry.sent++
        if (s.ok) entry.ok++
        labels.set(s.label, entry)
      }
      const counts = [...labels].map(([label, { sent, ok }]) => `${label} ${ok}/${sent}`).join(", ")
      const failed = failures()
      const first = failed
        .slice(0, 10)
        .map((s) => `\n  ${s.method} ${s.path} → ${describeOutcome(s.outcome)}`)
      return `${samples.length} requests (ok/sent: ${counts})${failed.length > 0 ? `; not ok:${first.join("")}` : ""}`
    }
  }
}

/** Polls `check` until it holds, failing after `timeoutMs` (a bound, not a timing claim). */
export const waitUntil = async <A>(
  what: string,
  probe: () => Promise<A>,
  done: (value: A) => boolean,
  timeoutMs = 15_000,
  everyMs = 50
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (done(value)) return value
    if (Date.now() > deadline)
      throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(value)})`)
    await sleep(everyMs)
  }
}
