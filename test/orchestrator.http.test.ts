import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, registerUser, type TestUser } from "./support/api.ts"
import { type FakeProvider, startFakeProvider } from "./support/fakeProvider.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

interface Json {
  readonly [key: string]: unknown
}

describe("orchestrator over HTTP (the example server: built-in chains + examples/custom-chain.ts)", () => {
  let server: ServerProcess
  let user: TestUser

  beforeAll(async () => {
    server = await startServer({ CACHE_PREFIX: `test-${Date.now()}:` }, { entry: "examples/custom-chain.ts" })
    user = await registerUser(server.url, "Orchestrated")
  })
  afterAll(async () => {
    await server?.stop()
  })

  it("the example chain is registered and runs through the API; its run can be inspected", async () => {
    const ran = await call(server.url, "POST", "/api/v1/orchestrator/chains/execute/first_step", {
      token: user.token,
      body: { goal: "write my thesis", minutes: 25 }
    })
    expect(ran.status).toBe(200)
    const body = ran.json() as Json
    expect(body).toMatchObject({
      chain: "first_step",
      source: "heuristic",
      output: { first_step: 'Spend 5 minutes outlining "write my thesis"', minutes: 5 }
    })
    const run = await call(server.url, "GET", `/api/v1/orchestrator/chain-runs/${String(body.run_id)}`, {
      token: user.token
    })
    expect(run.status).toBe(200)
    expect(run.json()).toMatchObject({
      chain: "first_step",
      status: "completed",
      steps: [{ step: "next_step" }]
    })
    const other = await registerUser(server.url, "Other")
    const hidden = await call(server.url, "GET", `/api/v1/orchestrator/chain-runs/${String(body.run_id)}`, {
      token: other.token
    })
    expect(hidden.status).toBe(404)
    const invalid = await call(server.url, "POST", "/api/v1/orchestrator/chains/execute/first_step", {
      token: user.token,
      body: { goal: "" }
    })
    expect(invalid.status).toBe(422)
    const missing = await call(server.url, "POST", "/api/v1/orchestrator/chains/execute/nope", {
      token: user.token,
      body: {}
    })
    expect(missing.status).toBe(404)
  })

  it("create-enhanced, complete-enhanced, memory, planner and status answer 200 from the heuristic path", async () => {
    const created = await call(server.url, "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
      token: user.token,
      body: { title: "Write the quarterly report", description: "sales", duration_minutes: 50 }
    })
    expect(created.status).toBe(200)
    const createdBody = created.json() as {
      task: { id: string; blocks: ReadonlyArray<{ id: string }> }
      source: string
      follow_up_actions: ReadonlyArray<unknown>
    }
    expect(createdBody.source).toBe("heuristic")
    expect(createdBody.task.blocks).toHaveLength(2)
    expect(createdBody.follow_up_actions).toHaveLength(2)

    const block = createdBody.task.blocks[0]!
    // A block never started cannot be completed: its pay is measured from its start.
    const unstarted = await call(server.url, "POST", "/api/v1/orchestrator/tasks/complete-enhanced", {
      token: user.token,
      body: { task_id: createdBody.task.id, block_id: block.id, proof_text: "I did it all" }
    })
    expect(unstarted.status).toBe(409)
    expect(unstarted.json()).toMatchObject({ _tag: "BlockNotStarted", details: { block_id: block.id } })
    const started = await call(
      server.url,
      "POST",
      `/api/v1/tasks/${createdBody.task.id}/blocks/${block.id}/start`,
      { token: user.token }
    )
    expect(started.status).toBe(200)
    const completed = await call(server.url, "POST", "/api/v1/orchestrator/tasks/complete-enhanced", {
      token: user.token,
      body: {
        task_id: createdBody.task.id,
        block_id: block.id,
        proof_text: "I wrote the sales section of the quarterly report with the charts and a summary."
      }
    })
    expect(completed.status).toBe(200)
    const done = completed.json() as {
      tokens_earned: number
      proof_score: number
      source: string
      balance: number
      pay: { reason: string; proof_bonus: number; full_tokens: number }
    }
    expect(done.source).toBe("heuristic")
    expect(done.proof_score).toBeGreaterThan(0)
    // Completed right after its start (this server's clock is real): no focus spent, nothing paid,
    // however good the proof; the answer says why.
    expect(done).toMatchObject({ tokens_earned: 0, balance: 0, pay: { reason: "too_short", proof_bonus: 0 } })
    const twice = await call(server.url, "POST", "/api/v1/orchestrator/tasks/complete-enhanced", {
      token: user.token,
      body: { task_id: createdBody.task.id, block_id: block.id, proof_text: "again" }
    })
    expect(twice.status).toBe(409)

    const daily = await call(server.url, "POST", "/api/v1/orchestrator/daily-optimization", {
      token: user.token,
      body: {}
    })
    expect(daily.status).toBe(200)
    expect((daily.json() as Json).source).toBe("heuristic")
    const focus = await call(server.url, "POST", "/api/v1/orchestrator/focus-session", {
      token: user.token,
      body: { duration_minutes: 25 }
    })
    expect(focus.status).toBe(200)
    expect((focus.json() as Json).source).toBe("heuristic")

    const context = await call(server.url, "GET", "/api/v1/orchestrator/memory/user-context", {
      token: user.token
    })
    expect(context.status).toBe(200)
    expect((context.json() as { counts: { long_term: number } }).counts.long_term).toBeGreaterThanOrEqual(2)
    const actions = await call(server.url, "GET", "/api/v1/orchestrator/planner/actions", {
      token: user.token
    })
    expect(actions.status).toBe(200)
    expect((actions.json() as ReadonlyArray<unknown>).length).toBeGreaterThanOrEqual(4)
    const executed = await call(server.url, "POST", "/api/v1/orchestrator/planner/execute", {
      token: user.token
    })
    expect(executed.status).toBe(200)

    const status = await call(server.url, "GET", "/orchestrator/status")
    expect(status.status).toBe(200)
    const report = status.json() as {
      chains: ReadonlyArray<{ name: string }>
      worker: { mode: string; running: boolean }
    }
    expect(report.chains.map((c) => c.name).sort()).toEqual([
      "first_step",
      "motivation",
      "proof_validation",
      "task_analysis",
      "task_breakdown"
    ])
    expect(report.worker).toMatchObject({ mode: "embedded", running: true })
    const unauthenticated = await call(server.url, "GET", "/api/v1/orchestrator/memory/user-context")
    expect(unauthenticated.status).toBe(401)
  })
})

describe("orchestrator over HTTP with the provider down (fake answering 500)", () => {
  let fake: FakeProvider
  let server: ServerProcess
  let user: TestUser

  beforeAll(async () => {
    fake = await startFakeProvider({ kind: "status", status: 500 })
    server = await startServer({
      AI_PROVIDER: "openai",
      AI_BASE_URL: fake.baseUrl,
      AI_API_KEY: "sk-test",
      AI_RETRY_BASE_MS: "10",
      AI_RATE_LIMIT: "10000",
      AI_RATE_BURST: "5000",
      CACHE_PREFIX: `test-${Date.now()}:`
    })
    user = await registerUser(server.url, "Degraded")
  })
  afterAll(async () => {
    await server?.stop()
    await fake?.close()
  })

  it("every workflow still answers 200 with source heuristic, and the breaker opens", async () => {
    const created = await call(server.url, "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
      token: user.token,
      body: { title: "Write docs", duration_minutes: 25 }
    })
    expect(created.status).toBe(200)
    const body = created.json() as {
      source: string
      task: { id: string; blocks: ReadonlyArray<{ id: string }> }
    }
    expect(body.source).toBe("heuristic")
    await call(server.url, "POST", `/api/v1/tasks/${body.task.id}/blocks/${body.task.blocks[0]!.id}/start`, {
      token: user.token
    })
    const completed = await call(server.url, "POST", "/api/v1/orchestrator/tasks/complete-enhanced", {
      token: user.token,
      body: { task_id: body.task.id, block_id: body.task.blocks[0]!.id, proof_text: "wrote the install docs" }
    })
    expect(completed.status).toBe(200)
    expect((completed.json() as Json).source).toBe("heuristic")
    for (const path of ["/api/v1/orchestrator/daily-optimization", "/api/v1/orchestrator/focus-session"]) {
      const reply = await call(server.url, "POST", path, { token: user.token, body: {} })
      expect(reply.status).toBe(200)
      expect((reply.json() as Json).source).toBe("heuristic")
    }
    const status = (await call(server.url, "GET", "/orchestrator/status")).json() as {
      status: string
      optimizer: { breaker: { state: string } }
    }
    expect(status.optimizer.breaker.state).toBe("open")
    expect(status.status).toBe("degraded")
  })
})
