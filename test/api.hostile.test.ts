import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import {
  call,
  countEvents,
  createTask,
  type Envelope,
  registerUser,
  TEST_JWT_SECRET,
  type TestUser
} from "./support/api.ts"
import type { Reply } from "./support/http.ts"
import { request } from "./support/http.ts"
import { runEntry, type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

/**
 * Hostile input against the real server (issue 16, items 3–5 and "Exposure"): each refusal is a 4xx
 * in the envelope, writes no event, and leaves `/health` healthy.
 */

/** Every name an empty object answers from its prototype: ids like these are ordinary strings. */
const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype)

const expectEnvelope4xx = (reply: Reply, what: string) => {
  expect(reply.status, `${what}: ${reply.status} ${reply.text}`).toBeGreaterThanOrEqual(400)
  expect(reply.status, `${what}: ${reply.status} ${reply.text}`).toBeLessThan(500)
  const body = reply.json() as Envelope
  expect(typeof body._tag, what).toBe("string")
  expect(typeof body.message, what).toBe("string")
}

const healthStatus = async (base: string): Promise<string> => {
  const reply = await request(`${base}/health`)
  return (reply.json() as { status: string }).status
}

const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`

describe("hostile input on the embedded server", () => {
  let server: ServerProcess
  let user: TestUser
  let taskId: string
  let blockId: string

  beforeAll(async () => {
    server = await startServer({ JWT_SECRET: TEST_JWT_SECRET })
    user = await registerUser(server.url, "Hostile")
    const task = await createTask(server.url, user.token, { title: "A real task", duration_minutes: 50 })
    taskId = task.id
    blockId = task.blocks[0]?.id ?? ""
  }, 120_000)
  afterAll(async () => {
    await server?.stop()
  })

  describe("JSON nested deeper than 64 levels", () => {
    const routes = (depth: number) => [
      { name: "login", path: "/api/v1/auth/login", token: undefined, raw: nested(depth) },
      {
        name: "register",
        path: "/api/v1/auth/register",
        token: undefined,
        raw: `{"email":"deep@example.com","password":"long enough password","display_name":${nested(depth)}}`
      },
      // The chain accepts (and ignores) unknown fields: only the depth limit refuses this one.
      {
        name: "execute chain",
        path: "/api/v1/orchestrator/chains/execute/task_breakdown",
        token: "user",
        raw: `{"title":"x","description":"","duration_minutes":25,"extra":${nested(depth - 1)}}`
      },
      {
        name: "create-enhanced",
        path: "/api/v1/orchestrator/tasks/create-enhanced",
        token: "user",
        raw: `{"title":"deep","extra":${nested(depth - 1)}}`
      }
    ]

    for (const depth of [65, 3_000, 100_000]) {
      it(`refuses depth ${depth} with 400 MalformedRequest before decoding, writing nothing`, async () => {
        const before = countEvents(server.dataDir)
        for (const route of routes(depth)) {
          const reply = await call(server.url, "POST", route.path, {
            raw: route.raw,
            ...(route.token === undefined ? {} : { token: user.token })
          })
          expect(reply.status, `${route.name}: ${reply.text.slice(0, 200)}`).toBe(400)
          const body = reply.json() as Envelope
          expect(body._tag).toBe("MalformedRequest")
          expect(body.details).toEqual({ max_depth: 64 })
        }
        expect(countEvents(server.dataDir)).toBe(before)
        expect(await healthStatus(server.url)).toBe("healthy")
      })
    }

    it("accepts 64 levels, and brackets inside strings do not count", async () => {
      const atLimit = await call(server.url, "POST", "/api/v1/orchestrator/chains/execute/task_breakdown", {
        token: user.token,
        raw: `{"title":"x","description":"","duration_minutes":25,"extra":${nested(63)}}`
      })
      expect(atLimit.status, atLimit.text).toBe(200)
      const inString = await call(server.url, "POST", "/api/v1/orchestrator/chains/execute/task_breakdown", {
        token: user.token,
        raw: JSON.stringify({ title: `${"[{".repeat(50)}\\"`, description: "", duration_minutes: 25 })
      })
      expect(inString.status, inString.text).toBe(200)
    })
  })

  describe("create-enhanced refused before any chain runs", () => {
    const refused: ReadonlyArray<readonly [string, unknown]> = [
      ["blank title", { title: "   " }],
      ["empty title", { title: "" }],
      ["title over 200 characters", { title: "x".repeat(201) }],
      ["description over 5000 characters", { title: "ok", description: "x".repeat(5001) }],
      ["duration under the minimum", { title: "ok", duration_minutes: 0 }],
      ["duration over the maximum", { title: "ok", duration_minutes: 100_000 }],
      ["unknown difficulty", { title: "ok", difficulty: "extreme" }]
    ]
    for (const [name, body] of refused) {
      it(`${name}: 400 in the envelope, no event (no chain run) written`, async () => {
        const before = countEvents(server.dataDir)
        const reply = await call(server.url, "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
          token: user.token,
          body
        })
        expect(reply.status, reply.text).toBe(400)
        expect((reply.json() as Envelope)._tag).toBe("ValidationError")
        expect(countEvents(server.dataDir)).toBe(before)
      })
    }

    it("a padded title is trimmed as POST /api/v1/tasks does (was a 500 after three chain runs)", async () => {
      const reply = await call(server.url, "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
        token: user.token,
        body: { title: " padded " }
      })
      expect(reply.status, reply.text).toBe(200)
      expect((reply.json() as { task: { title: string } }).task.title).toBe("padded")
      expect(await healthStatus(server.url)).toBe("healthy")
    })
  })

  describe("Object.prototype names as ids", () => {
    const pathRoutes = (id: string) => [
      { method: "GET", path: `/api/v1/tasks/${id}` },
      { method: "PUT", path: `/api/v1/tasks/${id}`, body: { title: "renamed" } },
      { method: "DELETE", path: `/api/v1/tasks/${id}` },
      { method: "POST", path: `/api/v1/tasks/${id}/blocks/${blockId}/start` },
      { method: "POST", path: `/api/v1/tasks/${taskId}/blocks/${id}/start` },
      { method: "POST", path: `/api/v1/tasks/${id}/blocks/${blockId}/complete`, body: {} },
      { method: "POST", path: `/api/v1/tasks/${taskId}/blocks/${id}/complete`, body: {} },
      { method: "POST", path: `/api/v1/store/purchase/${id}` },
      { method: "POST", path: `/api/v1/store/rewards/${id}/use` },
      { method: "POST", path: `/api/v1/orchestrator/chains/execute/${id}`, body: {} },
      { method: "GET", path: `/api/v1/orchestrator/chain-runs/${id}` },
      {
        method: "POST",
        path: "/api/v1/orchestrator/tasks/complete-enhanced",
        body: { task_id: id, block_id: blockId }
      },
      {
        method: "POST",
        path: "/api/v1/orchestrator/tasks/complete-enhanced",
        body: { task_id: taskId, block_id: id }
      }
    ]

    it("every name as every path and body id: 4xx envelope, no event, healthy", async () => {
      expect(PROTOTYPE_NAMES).toEqual(expect.arrayContaining(["constructor", "__proto__", "toString"]))
      const before = countEvents(server.dataDir)
      for (const name of PROTOTYPE_NAMES) {
        for (const route of pathRoutes(name)) {
          const reply = await call(server.url, route.method, route.path, {
            token: user.token,
            ...(route.body === undefined ? {} : { body: route.body })
          })
          expectEnvelope4xx(reply, `${route.method} ${route.path} ${JSON.stringify(route.body ?? "")}`)
        }
      }
      expect(countEvents(server.dataDir)).toBe(before)
      expect(await healthStatus(server.url)).toBe("healthy")
    })

    it("every name as Idempotency-Key: 4xx envelope, no event, healthy", async () => {
      const before = countEvents(server.dataDir)
      for (const name of PROTOTYPE_NAMES) {
        for (const item of ["quick-break-5m", name]) {
          const reply = await call(server.url, "POST", `/api/v1/store/purchase/${item}`, {
            token: user.token,
            headers: { "idempotency-key": name }
          })
          expectEnvelope4xx(reply, `purchase ${item} with Idempotency-Key ${name}`)
        }
      }
      expect(countEvents(server.dataDir)).toBe(before)
      expect(await healthStatus(server.url)).toBe("healthy")
    })
  })

  describe("Idempotency-Key with a funded wallet", () => {
    /**
     * Funds a wallet as another instance sharing the store would: one earning appended to the user's
     * wallet stream (the actor reads the stream's tail before every command). Earning through blocks
     * would tie this test to the crediting rules.
     */
    const fund = (userId: string, amount: number) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const store = yield* EventStore
          yield* store.append(`wallet-${userId}`, "any", [
            {
              eventId: randomUUID(),
              type: "TokensEarned",
              data: {
                _tag: "TokensEarned",
                task_id: "funding-task",
                block_id: "funding-block",
                minutes: 25,
                difficulty: "medium",
                amount,
                streak_days: 1,
                at: new Date().toISOString()
              },
              metadata: { timestamp: new Date().toISOString() }
            }
          ])
        }).pipe(
          Effect.scoped,
          Effect.provide(layerSqlite({ filename: join(server.dataDir, "focusforge.db") }))
        )
      )

    it("same key and item answers the first purchase; another item is 422 IdempotencyKeyReused", async () => {
      const buyer = await registerUser(server.url, "Buyer")
      await fund(buyer.id, 500)
      const buy = (item: string, key: string) =>
        call(server.url, "POST", `/api/v1/store/purchase/${item}`, {
          token: buyer.token,
          headers: { "idempotency-key": key }
        })
      const first = await buy("quick-break-5m", "reuse-1")
      expect(first.status, first.text).toBe(201)
      const firstBody = first.json() as { reward: { id: string }; balance: number }
      const retry = await buy("quick-break-5m", "reuse-1")
      expect(retry.status).toBe(201)
      expect(retry.json()).toMatchObject({ reward: { id: firstBody.reward.id }, balance: firstBody.balance })

      const before = countEvents(server.dataDir)
      const reused = await buy("movie-night", "reuse-1")
      expect(reused.status, reused.text).toBe(422)
      expect(reused.json()).toEqual({
        _tag: "IdempotencyKeyReused",
        message: expect.any(String),
        details: { idempotency_key: "reuse-1", item_id: "movie-night" }
      })
      expect(countEvents(server.dataDir)).toBe(before)

      // Prototype names are ordinary keys: they buy once, and their retry answers that purchase.
      for (const name of ["constructor", "__proto__", "toString"]) {
        const bought = await buy("quick-break-5m", name)
        expect(bought.status, `${name}: ${bought.text}`).toBe(201)
        expect((bought.json() as { reward: { id: string } }).reward.id).toBe(name)
        const again = await buy("quick-break-5m", name)
        expect(again.status, name).toBe(201)
        expect((again.json() as { balance: number }).balance).toBe(
          (bought.json() as { balance: number }).balance
        )
        const used = await call(server.url, "POST", `/api/v1/store/rewards/${name}/use`, {
          token: buyer.token
        })
        expect(used.status, `${name}: ${used.text}`).toBe(200)
      }
      expect(await healthStatus(server.url)).toBe("healthy")
    })
  })

  describe("exposure (embedded defaults)", () => {
    it("/health shows no absolute path", async () => {
      const reply = await request(`${server.url}/health`)
      expect(reply.status).toBe(200)
      expect(reply.text).not.toContain("data_dir")
      expect(reply.text).not.toContain(server.dataDir)
      expect(reply.text).not.toMatch(/"\/(tmp|home|var|data|work)\b/)
    })

    it("every answer has nosniff and no-referrer; API answers are no-store", async () => {
      const answers: ReadonlyArray<readonly [string, Promise<Reply>]> = [
        ["200", call(server.url, "GET", "/api/v1/tasks", { token: user.token })],
        ["401", call(server.url, "GET", "/api/v1/tasks")],
        ["400", call(server.url, "POST", "/api/v1/auth/login", { raw: "{" })],
        ["404 (no route)", call(server.url, "GET", "/no/such/route")],
        ["413", call(server.url, "POST", "/api/v1/auth/login", { raw: "x".repeat(1024 * 1024 + 1) })],
        ["health", request(`${server.url}/health`)],
        ["openapi", request(`${server.url}/openapi.json`)]
      ]
      for (const [name, pending] of answers) {
        const reply = await pending
        expect(reply.headers["x-content-type-options"], name).toBe("nosniff")
        expect(reply.headers["referrer-policy"], name).toBe("no-referrer")
        expect(reply.headers["cache-control"], name).toBe("no-store")
      }
      const docs = await request(`${server.url}/docs`)
      expect(docs.status).toBe(200)
      expect(docs.headers["referrer-policy"]).toBe("no-referrer")
      expect(docs.headers["x-content-type-options"]).toBe("nosniff")
      expect(docs.headers["cache-control"]).toMatch(/^public, max-age=/)
    })

    it("CORS is off: no preflight answer, no allow-origin", async () => {
      const preflight = await call(server.url, "OPTIONS", "/api/v1/tasks", {
        headers: { origin: "https://app.example.com", "access-control-request-method": "POST" }
      })
      expect(preflight.status).toBe(404)
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined()
      const get = await call(server.url, "GET", "/api/v1/tasks", {
        token: user.token,
        headers: { origin: "https://app.example.com" }
      })
      expect(get.status).toBe(200)
      expect(get.headers["access-control-allow-origin"]).toBeUndefined()
    })

    it("operator endpoints stay open in embedded mode without METRICS_TOKEN", async () => {
      expect((await request(`${server.url}/metrics`)).status).toBe(200)
      const status = (await request(`${server.url}/orchestrator/status`)).json() as Record<string, unknown>
      expect(status.executor).toBeDefined()
    })
  })
})

describe("exposure with METRICS_TOKEN and CORS_ORIGINS", () => {
  const TOKEN = "operator-token-for-the-hostile-test"
  const LISTED = "https://app.example.com"
  let server: ServerProcess

  beforeAll(async () => {
    server = await startServer({
      METRICS_TOKEN: TOKEN,
      CORS_ORIGINS: `${LISTED}, http://localhost:5173`,
      JWT_SECRET: TEST_JWT_SECRET
    })
  }, 120_000)
  afterAll(async () => {
    await server?.stop()
  })

  const asOperator = { authorization: `Bearer ${TOKEN}` }

  it("/health: statuses for everyone, messages and details for the operator only", async () => {
    const anonymous = (await request(`${server.url}/health`)).json() as {
      status: string
      components: Record<string, Record<string, unknown>>
    }
    expect(anonymous.status).toBe("healthy")
    expect(Object.keys(anonymous.components)).toContain("store")
    for (const component of Object.values(anonymous.components)) {
      expect(Object.keys(component).sort()).toEqual(["critical", "status"])
    }
    const wrong = (
      await request(`${server.url}/health`, { headers: { authorization: "Bearer nope" } })
    ).json() as {
      components: Record<string, Record<string, unknown>>
    }
    expect(wrong.components.store?.details).toBeUndefined()
    const operator = (await request(`${server.url}/health`, { headers: asOperator })).json() as {
      components: Record<string, { details?: unknown }>
    }
    expect(operator.components.store?.details).toEqual({ kind: "sqlite" })
  })

  it("/orchestrator/status: status and chains for everyone, the rest for the operator", async () => {
    for (const path of ["/orchestrator/status", "/api/v1/orchestrator/status"]) {
      const anonymous = (await request(`${server.url}${path}`)).json() as Record<string, unknown>
      expect(Object.keys(anonymous).sort()).toEqual(["chains", "status"])
      const operator = (await request(`${server.url}${path}`, { headers: asOperator })).json() as Record<
        string,
        unknown
      >
      expect(Object.keys(operator)).toEqual(
        expect.arrayContaining(["status", "chains", "executor", "optimizer", "planner", "memory", "worker"])
      )
    }
  })

  it("/metrics and /metrics/performance need the token", async () => {
    for (const path of ["/metrics", "/metrics/performance"]) {
      expect((await request(`${server.url}${path}`)).status).toBe(401)
      expect((await request(`${server.url}${path}`, { headers: asOperator })).status).toBe(200)
    }
  })

  it("answers preflights of listed origins only, and allows only them", async () => {
    const preflight = await call(server.url, "OPTIONS", "/api/v1/tasks", {
      headers: {
        origin: LISTED,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"
      }
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers["access-control-allow-origin"]).toBe(LISTED)
    expect(preflight.headers["access-control-allow-methods"]).toContain("POST")
    expect(preflight.headers["access-control-allow-headers"]).toContain("authorization")
    expect(preflight.headers["access-control-allow-credentials"]).toBeUndefined()

    const second = await call(server.url, "OPTIONS", "/api/v1/tasks", {
      headers: { origin: "http://localhost:5173", "access-control-request-method": "GET" }
    })
    expect(second.headers["access-control-allow-origin"]).toBe("http://localhost:5173")

    const unlisted = await call(server.url, "OPTIONS", "/api/v1/tasks", {
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" }
    })
    expect(unlisted.status).toBe(404)
    expect(unlisted.headers["access-control-allow-origin"]).toBeUndefined()

    const listedGet = await call(server.url, "GET", "/health/live", { headers: { origin: LISTED } })
    expect(listedGet.headers["access-control-allow-origin"]).toBe(LISTED)
    const unlistedGet = await call(server.url, "GET", "/health/live", {
      headers: { origin: "https://evil.example.com" }
    })
    expect(unlistedGet.headers["access-control-allow-origin"]).toBeUndefined()
  })
})

describe("start-up refuses unsafe exposure settings", () => {
  it("production mode without METRICS_TOKEN", async () => {
    const run = runEntry("src/main.ts", {
      FF_MODE: "production",
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: tempDataDir(),
      JWT_SECRET: TEST_JWT_SECRET
    })
    expect(await run.exited).not.toBe(0)
    expect(run.output()).toContain("METRICS_TOKEN: required when FF_MODE=production")
  }, 60_000)

  it("a CORS_ORIGINS entry that is not an origin (a wildcard, a path)", async () => {
    for (const value of ["*", "https://app.example.com/"]) {
      const run = runEntry("src/main.ts", {
        PORT: "0",
        HOST: "127.0.0.1",
        DATA_DIR: tempDataDir(),
        CORS_ORIGINS: value
      })
      expect(await run.exited).not.toBe(0)
      expect(run.output()).toContain("CORS_ORIGINS")
    }
  }, 90_000)

  it("production mode with METRICS_TOKEN starts, and its metrics need the token", async () => {
    const server = await startServer({
      FF_MODE: "production",
      JWT_SECRET: TEST_JWT_SECRET,
      METRICS_TOKEN: "production-metrics-token"
    })
    try {
      expect((await request(`${server.url}/metrics`)).status).toBe(401)
      const health = (await request(`${server.url}/health`)).json() as {
        components: Record<string, Record<string, unknown>>
      }
      expect(health.components.store).toEqual({ status: "healthy", critical: true })
    } finally {
      await server.stop()
    }
  }, 120_000)
})
