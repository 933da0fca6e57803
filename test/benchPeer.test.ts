/**
 * The tools of bench/peer.ts, checked without timing thresholds: the open-loop generator measures
 * latency from each request's intended send time (a request queued behind a stalled connection carries
 * the stall), counts unanswered requests as errors and walks each user's blocks in order; and the
 * Fastify peer answers FocusForge's contract (shapes, statuses, error envelope, token rules) so the
 * same load scripts drive both. Loopback servers only.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type OpenLoopConfig, runOpenLoop } from "../bench/support/openloop.ts"
import { type ChildRun, runScript, tempDataDir, waitForOutput } from "./support/server.ts"

const listen = async (handler: Http.RequestListener) => {
  const server = Http.createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}

const user = { token: "t", email: "u@x.example", password: "correct horse battery", blocks: [] }

const config = (url: string, overrides: Partial<OpenLoopConfig>): OpenLoopConfig => ({
  url,
  rate: 50,
  seconds: 0.2,
  connections: 1,
  drainSeconds: 5,
  users: [user],
  mix: [{ kind: "profile", weight: 1 }],
  seed: 1,
  ...overrides
})

describe("bench/support/openloop.ts", () => {
  it("measures from the intended send time: requests queued behind a stalled answer carry the stall", async () => {
    const HOLD_MS = 400
    let first = true
    const server = await listen((_request, response) => {
      const answer = () => response.writeHead(200, { "content-type": "application/json" }).end("{}")
      if (first) {
        first = false
        setTimeout(answer, HOLD_MS)
      } else answer()
    })
    try {
      // 10 requests due every 20 ms over one connection: all but the first wait behind the held one.
      const report = await runOpenLoop(config(server.url, {}))
      expect(report.scheduled).toBe(10)
      expect(report.all.count).toBe(10)
      expect(report.all.ok).toBe(10)
      // The last is due 180 ms after the first and answered after the hold: at least 400 - 180 ms late.
      // Timed from its actual send, a closed loop would see it answered at once.
      expect(report.all.p50Ms).toBeGreaterThanOrEqual(HOLD_MS - 180)
      expect(report.byKind.profile?.count).toBe(10)
    } finally {
      await server.close()
    }
  })

  it("counts requests left unanswered when the drain ends as errors", async () => {
    const server = await listen(() => {
      // never answers
    })
    try {
      const report = await runOpenLoop(config(server.url, { connections: 4, drainSeconds: 0.2 }))
      expect(report.all.count).toBe(10)
      expect(report.all.errors).toBe(10)
      expect(report.all.ok).toBe(0)
    } finally {
      await server.close()
    }
  })

  it("walks a user's blocks in order, one step in flight, and sends a mood write when none is free", async () => {
    const paths: Array<string> = []
    const server = await listen((request, response) => {
      paths.push(`${request.method} ${request.url}`)
      request.resume()
      request.on("end", () => response.writeHead(200).end("{}"))
    })
    try {
      const report = await runOpenLoop(
        config(server.url, {
          connections: 4,
          users: [
            {
              ...user,
              blocks: [
                { task: "t1", block: "b1" },
                { task: "t1", block: "b2" }
              ]
            }
          ],
          mix: [{ kind: "block", weight: 1 }]
        })
      )
      const blockSteps = paths.filter((p) => p.includes("/blocks/"))
      const expected = [
        "POST /api/v1/tasks/t1/blocks/b1/start",
        "POST /api/v1/tasks/t1/blocks/b1/complete",
        "POST /api/v1/tasks/t1/blocks/b2/start",
        "POST /api/v1/tasks/t1/blocks/b2/complete"
      ]
      expect(blockSteps).toEqual(expected.slice(0, blockSteps.length))
      expect(paths.filter((p) => p === "POST /api/v1/mood").length).toBe(report.blockStarved)
      expect(blockSteps.length + report.blockStarved).toBe(10)
    } finally {
      await server.close()
    }
  })
})

describe("bench/servers/peer-fastify.mjs", () => {
  let peer: ChildRun
  let base = ""
  const call = async (method: string, path: string, options: { token?: string; body?: unknown } = {}) => {
    const response = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...(options.body === undefined ? {} : { "content-type": "application/json" })
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) })
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }

  beforeAll(async () => {
    peer = runScript("bench/servers/peer-fastify.mjs", [], { PORT: "0", DATA_DIR: tempDataDir() })
    await waitForOutput(peer, "Listening on")
    base = /Listening on (http:\/\/\S+)/.exec(peer.output())![1]!
  })
  afterAll(async () => {
    peer.child.kill("SIGTERM")
    await peer.exited
  })

  it("answers FocusForge's contract: sessions, envelopes, mood rules, block commands and wallet credit", async () => {
    const registered = await call("POST", "/auth/register", {
      body: { email: " Ann@X.example ", password: "correct horse battery", display_name: "Ann" }
    })
    expect(registered.status).toBe(201)
    expect(registered.body).toMatchObject({ user: { email: "ann@x.example" }, token_type: "bearer" })
    expect(
      (await call("POST", "/auth/login", { body: { email: "ann@x.example", password: "wrong horse" } })).body
    ).toEqual({ _tag: "InvalidCredentials", message: "Wrong email or password" })
    const login = await call("POST", "/auth/login", {
      body: { email: "ann@x.example", password: "correct horse battery" }
    })
    expect(login.status).toBe(200)
    const token = login.body.access_token as string

    expect((await call("GET", "/store/profile")).body._tag).toBe("Unauthorized")
    expect((await call("GET", "/store/profile", { token: `${token}x` })).status).toBe(401)
    const badMood = await call("POST", "/mood", { token, body: { score: 11, energy: 5, stress: 5 } })
    expect(badMood.status).toBe(400)
    expect(badMood.body._tag).toBe("ValidationError")
    expect((await call("POST", "/mood", { token, body: { score: "5", energy: 5, stress: 5 } })).status).toBe(
      400
    )
    const mood = await call("POST", "/mood", { token, body: { score: 5, energy: 6, stress: 3 } })
    expect(mood.status).toBe(201)
    expect(mood.body).toMatchObject({ score: 5, energy: 6, stress: 3, note: null })

    const task = await call("POST", "/tasks", {
      token,
      body: { title: "Write", duration_minutes: 50, difficulty: "high" }
    })
    expect(task.status).toBe(201)
    const blocks = task.body.blocks as Array<{ id: string; duration_minutes: number }>
    expect(blocks.map((b) => b.duration_minutes)).toEqual([25, 25])
    const path = (block: string, step: string) => `/tasks/${task.body.id}/blocks/${block}/${step}`
    expect((await call("POST", path(blocks[0]!.id, "complete"), { token, body: {} })).status).toBe(409)
    expect((await call("POST", path(blocks[0]!.id, "start"), { token })).status).toBe(200)
    expect((await call("POST", path(blocks[1]!.id, "start"), { token })).status).toBe(409)
    const completed = await call("POST", path(blocks[0]!.id, "complete"), {
      token,
      body: { effort_rating: 7 }
    })
    // FocusForge's pay rule: a block completed within a minute of its start pays nothing (too short),
    // and is still recorded once in the ledger (so it can never be paid later).
    expect(completed.body).toMatchObject({ tokens_earned: 0, bonus_tokens: 0, balance: 0 })
    expect((await call("POST", path(blocks[0]!.id, "complete"), { token, body: {} })).body._tag).toBe(
      "InvalidTransition"
    )
    await call("POST", path(blocks[1]!.id, "start"), { token })
    const last = await call("POST", path(blocks[1]!.id, "complete"), { token, body: {} })
    expect(last.body).toMatchObject({ tokens_earned: 0, bonus_tokens: 0, balance: 0 })
    expect((last.body.task as { status: string }).status).toBe("completed")
    expect((await call("GET", "/store/profile", { token })).body).toMatchObject({
      balance: 0,
      total_earned: 0,
      level: 1
    })
    const ledger = await call("GET", "/store/transactions?limit=100", { token })
    expect(ledger.body.total).toBe(2)
    expect((await call("GET", "/tasks?limit=101", { token })).status).toBe(400)
    expect((await call("GET", "/tasks/dashboard", { token })).body).toMatchObject({ balance: 0, level: 1 })
  })
})
