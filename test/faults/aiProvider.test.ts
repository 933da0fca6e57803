import { performance } from "node:perf_hooks"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser, type TestUser } from "../support/api.ts"
import { type FakeProvider, startFakeProvider } from "../support/fakeProvider.ts"
import { request } from "../support/http.ts"
import { type Load, type LoadClient, startLoad, waitUntil } from "../support/load.ts"
import { type ServerProcess, startServer } from "../support/server.ts"

/**
 * (b) The AI provider answers 500 to everything, then accepts requests and never answers them, while
 * keep-alive clients run every AI workflow through the API: each one answers with the heuristic
 * fallback, the breaker opens (and re-opens after its hung probes time out), and the provider never sees
 * more than 3 calls at once (the bulkhead), even though more probes than that are let through.
 */

interface OptimizerStatus {
  readonly status: string
  readonly optimizer: {
    readonly breaker: { readonly state: string; readonly trips: number }
  }
}
const orchestratorStatus = async (server: ServerProcess) =>
  (await request(`${server.url}/orchestrator/status`)).json() as OptimizerStatus

/** Every AI workflow of the API, in the order a user meets them. Answers with what was not heuristic. */
const workflowRound =
  (user: TestUser, notHeuristic: Array<string>) => async (client: LoadClient, round: number) => {
    const token = user.token
    const sourceOf = (label: string, reply: { json: () => unknown }) => {
      const source = (reply.json() as { source?: unknown }).source
      if (source !== "heuristic") notHeuristic.push(`${label}: ${String(source)}`)
    }
    // Task creation runs the breakdown chain.
    const task = (
      await client.call("tasks.create", "POST", "/api/v1/tasks", {
        token,
        body: { title: `Prepare slides ${round}`, duration_minutes: 50, difficulty: "medium" }
      })
    ).json() as { id: string; blocks: ReadonlyArray<{ id: string }> }
    for (const chain of ["task_breakdown", "task_analysis"] as const) {
      const label = `chain.${chain}`
      sourceOf(
        label,
        await client.call(label, "POST", `/api/v1/orchestrator/chains/execute/${chain}`, {
          token,
          body: { title: `Refactor module ${round}`, description: "split and test", duration_minutes: 75 }
        })
      )
    }
    sourceOf(
      "chain.motivation",
      await client.call("chain.motivation", "POST", "/api/v1/orchestrator/chains/execute/motivation", {
        token,
        body: { mood: { score: 4, energy: 3, stress: 7 }, challenge: "the exam", accomplishments: ["notes"] }
      })
    )
    const enhanced = await client.call(
      "orchestrator.createEnhanced",
      "POST",
      "/api/v1/orchestrator/tasks/create-enhanced",
      {
        token,
        body: { title: `Write report ${round}`, description: "quarterly sales", duration_minutes: 25 }
      }
    )
    sourceOf("orchestrator.createEnhanced", enhanced)
    // complete-enhanced completes a started block only (a pending one is 409 BlockNotStarted).
    await client.call("block.start", "POST", `/api/v1/tasks/${task.id}/blocks/${task.blocks[0]!.id}/start`, {
      token
    })
    sourceOf(
      "orchestrator.completeEnhanced",
      await client.call(
        "orchestrator.completeEnhanced",
        "POST",
        "/api/v1/orchestrator/tasks/complete-enhanced",
        {
          token,
          body: {
            task_id: task.id,
            block_id: task.blocks[0]!.id,
            proof_text: `Drafted the slides for round ${round} with an outline and speaker notes.`
          }
        }
      )
    )
    for (const [label, path, body] of [
      ["orchestrator.focusSession", "/api/v1/orchestrator/focus-session", { duration_minutes: 25 }],
      ["orchestrator.dailyOptimization", "/api/v1/orchestrator/daily-optimization", {}]
    ] as const) {
      sourceOf(label, await client.call(label, "POST", path, { token, body }))
    }
  }

describe("fault: the AI provider fails, then hangs, under load", () => {
  let fake: FakeProvider
  let server: ServerProcess
  let load: Load | undefined

  beforeAll(async () => {
    fake = await startFakeProvider({ kind: "status", status: 500 })
    server = await startServer({
      AI_PROVIDER: "openai",
      AI_BASE_URL: fake.baseUrl,
      AI_API_KEY: "sk-test",
      // Fast retries and short breaker/attempt times keep the scenario to seconds; the rate limit is not
      // what is tested here. The bulkhead (AI_MAX_CONCURRENT) keeps its default of 3.
      AI_RETRY_BASE_MS: "10",
      AI_RETRY_MAX_MS: "50",
      AI_RATE_LIMIT: "100000",
      AI_RATE_BURST: "50000",
      AI_BREAKER_OPEN_MS: "1500",
      AI_BREAKER_PROBES: "10",
      AI_ATTEMPT_TIMEOUT_MS: "1000",
      AI_DEADLINE_MS: "4000",
      CACHE_PREFIX: `test-faults-ai-${Date.now()}:`
    })
  })
  afterAll(async () => {
    await load?.stop()
    await server?.stop()
    await fake?.close()
  })

  it("every workflow answers from the heuristic, the breaker opens, at most 3 provider calls in flight", async () => {
    const users = await Promise.all(Array.from({ length: 8 }, (_, i) => registerUser(server.url, `Ai${i}`)))
    const notHeuristic: Array<string> = []
    const rounds = users.map((user) => workflowRound(user, notHeuristic))
    const started = startLoad({
      base: server.url,
      clients: users.length,
      round: (client, round) => rounds[client.index]!(client, round),
      maxMs: 90_000,
      maxRequests: 20_000
    })
    load = started
    const okSince = (from: number) => started.samples.filter((s) => s.ok && s.startedAt >= from).length

    // 500s: five failures in a row open the breaker; the workflows go on from the heuristics.
    const open = await waitUntil(
      "breaker open",
      () => orchestratorStatus(server),
      (s) => s.optimizer.breaker.state === "open"
    )
    expect(open.status).toBe("degraded")
    const ai = (
      (await request(`${server.url}/health`)).json() as { components: Record<string, { status: string }> }
    ).components.ai
    expect(ai?.status).toBe("degraded")
    const openAt = performance.now()
    await waitUntil(
      "workflows while open",
      async () => okSince(openAt),
      (n) => n >= 60
    )

    // Hanging: once the open period ends, the half-open probes are accepted and never answered, until
    // their attempt timeout gives up on them and the breaker opens again.
    fake.setDefault({ kind: "hang" })
    const hangAt = performance.now()
    const callsBeforeHang = fake.calls()
    const tripsBeforeHang = (await orchestratorStatus(server)).optimizer.breaker.trips
    // More probes are let through than the bulkhead admits: three hang at the provider, the others wait.
    await waitUntil(
      "three calls hung at the provider at once",
      async () => fake.inFlight(),
      (n) => n >= 3,
      20_000
    )
    const reopened = await waitUntil(
      "hung probes reached the provider and the breaker opened again",
      () => orchestratorStatus(server),
      (s) =>
        fake.calls() > callsBeforeHang &&
        s.optimizer.breaker.trips > tripsBeforeHang &&
        s.optimizer.breaker.state === "open",
      20_000
    )
    await waitUntil(
      "workflows after the hang",
      async () => okSince(hangAt),
      (n) => n >= 60
    )
    await started.stop()

    const summary = started.summary()
    expect(started.failures(), summary).toEqual([])
    expect(notHeuristic).toEqual([])
    expect(fake.maxInFlight()).toBeLessThanOrEqual(3)
    console.info(
      `AI provider failing then hanging under load (max ${fake.maxInFlight()} provider calls in flight, ` +
        `${fake.calls()} calls, ${reopened.optimizer.breaker.trips} trips): ${summary}`
    )
  })
})
