import * as Net from "node:net"
import { performance } from "node:perf_hooks"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser, type TestUser } from "../support/api.ts"
import { describeOutcome, type Load, type LoadClient, startLoad, waitUntil } from "../support/load.ts"
import { type ServerProcess, startServer } from "../support/server.ts"

/**
 * (c) SIGTERM while keep-alive clients keep the server busy: every request sent before the signal gets
 * its whole response, the listener refuses new connections while the drain runs, and the process exits 0.
 * The server is the real stack with test-only endpoints (test/support/testServer.ts), so that besides
 * the API traffic a few slow requests are certainly in flight when the signal lands.
 */

const SLOW_MS = 2500
const DRAIN_DEADLINE_MS = 60_000

/** Whether a fresh TCP connection to the port is refused. */
const connectionRefused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ port, host: "127.0.0.1" })
    socket.on("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"))
  })

const userRound = (user: TestUser) => async (client: LoadClient, round: number) => {
  const token = user.token
  await client.call("tasks.list", "GET", "/api/v1/tasks?limit=5", { token })
  await client.call("store.items", "GET", "/api/v1/store/items", { token })
  const task = (
    await client.call("tasks.create", "POST", "/api/v1/tasks", {
      token,
      body: { title: `Draining ${round}`, duration_minutes: 4, difficulty: "low" }
    })
  ).json() as { id: string; blocks: ReadonlyArray<{ id: string }> }
  const block = task.blocks[0]!.id
  await client.call("block.start", "POST", `/api/v1/tasks/${task.id}/blocks/${block}/start`, { token })
  await client.call("block.complete", "POST", `/api/v1/tasks/${task.id}/blocks/${block}/complete`, {
    token,
    body: {}
  })
  await client.call("store.profile", "GET", "/api/v1/store/profile", { token })
}

const slowRound = async (client: LoadClient) => {
  await client.call("test.slow", "GET", `/test/slow?ms=${SLOW_MS}`)
}

/**
 * Connection-level endings a request sent after the signal may see: refused by the closed listener, or a
 * kept-alive connection closed by the drain just as the request went out (before any byte of an answer).
 * Never a cut-off answer or a 5xx.
 */
const REFUSED_OR_CLOSED = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE"])

describe("fault: SIGTERM under load", () => {
  let server: ServerProcess
  let load: Load | undefined

  beforeAll(async () => {
    server = await startServer(
      { SHUTDOWN_DRAIN_MS: String(DRAIN_DEADLINE_MS) },
      { entry: "test/support/testServer.ts" }
    )
  })
  afterAll(async () => {
    await load?.stop()
    await server?.stop("SIGKILL")
  })

  it("requests in flight complete in full, new connections are refused, exit 0", async () => {
    const users = await Promise.all(
      Array.from({ length: 6 }, (_, i) => registerUser(server.url, `Drain${i}`))
    )
    const rounds = users.map(userRound)
    const started = startLoad({
      base: server.url,
      clients: users.length + 2,
      round: (client, round) =>
        client.index < users.length ? rounds[client.index]!(client, round) : slowRound(client),
      maxMs: 90_000,
      maxRequests: 20_000
    })
    load = started
    // Signal at a moment when a slow request has just started: it is certainly in flight for the drain.
    const fresh = () =>
      started.inFlight().find((s) => s.label === "test.slow" && performance.now() - s.startedAt < 300)
    await waitUntil(
      "steady load with a slow request just started",
      async () => ({ ok: started.samples.filter((s) => s.ok).length, fresh: fresh() !== undefined }),
      (n) => n.ok >= 200 && n.fresh
    )
    const slow = fresh()!
    const inFlightAtSignal = started.inFlight()
    const signalAt = performance.now()
    server.child.kill("SIGTERM")
    let exitedAt: number | undefined
    void server.exited.then(() => {
      exitedAt = performance.now()
    })
    // The listener closes first: new connections are refused while the drain still holds the slow request.
    await waitUntil(
      "new connections refused",
      () => connectionRefused(server.port),
      (refused) => refused,
      5_000,
      10
    )
    const refusedAt = performance.now()
    expect(await server.exited).toBe(0)
    await started.stop()

    const summary = started.summary()
    const before = started.samples.filter((s) => s.startedAt < signalAt)
    const after = started.samples.filter((s) => s.startedAt >= signalAt)
    const show = (s: (typeof before)[number]) => `${s.method} ${s.path} → ${describeOutcome(s.outcome)}`
    // Every request sent before the signal, those in flight included, got its complete, expected answer.
    expect(before.filter((s) => !s.ok).map(show), summary).toEqual([])
    expect(inFlightAtSignal).toContain(slow)
    for (const sample of inFlightAtSignal) {
      expect(sample.ok, show(sample)).toBe(true)
    }
    expect(refusedAt).toBeLessThan(slow.endedAt!)
    // The drain ended by itself once the requests were answered, long before its deadline would cut them.
    expect(exitedAt! - signalAt).toBeLessThan(DRAIN_DEADLINE_MS / 2)
    // Requests sent after it were answered in full or refused/closed before any byte of an answer.
    const badAfter = after.filter(
      (s) => !s.ok && !(s.outcome?.kind === "error" && REFUSED_OR_CLOSED.has(s.outcome.code))
    )
    expect(badAfter.map(show)).toEqual([])
    console.info(
      `SIGTERM under load: ${inFlightAtSignal.length} in flight at the signal, ${before.length} sent before, ` +
        `${after.length} after (${after.filter((s) => s.ok).length} answered, the rest refused or closed)`
    )
  })
})
