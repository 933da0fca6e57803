/**
 * Issue 16, "bounded memory and connections", against the real server (`src/main.ts`, embedded store):
 * 404s and unknown-email logins leave no live actors (read from `/metrics`), MAX_OPEN_TASKS answers 409
 * with the envelope (also for tasks an older build stored), the OpenAPI document declares both, and the
 * per-address connection cap refuses 127.0.0.2's excess while 127.0.0.3 is served.
 */
import { randomUUID } from "node:crypto"
import { copyFileSync } from "node:fs"
import * as Http from "node:http"
import * as Net from "node:net"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { FIXTURE_ENV, FIXTURE_PASSWORD } from "./fixtures/store-v1/journey.ts"
import { call, countEvents, type Envelope, registerUser, type TestUser } from "./support/api.ts"
import { request } from "./support/http.ts"
import { type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

const PER_ADDRESS = 16

/** The live actors of `kind`, as the server's own gauge reports them. */
const liveActors = async (base: string, kind: string): Promise<number> => {
  const text = (await request(`${base}/metrics`)).text
  const line = text.split("\n").find((l) => l.startsWith(`focusforge_actors_live{kind="${kind}"}`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1))
}

/** `count` calls, `concurrency` at a time, over at most `concurrency` kept-alive connections. */
const flood = async (
  count: number,
  concurrency: number,
  one: (agent: Http.Agent, i: number) => Promise<number>
) => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets: concurrency })
  const statuses = new Map<number, number>()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const status = await one(agent, next++)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    })
  )
  agent.destroy()
  return statuses
}

const send = (
  agent: Http.Agent,
  url: string,
  options: { method?: string; token?: string; body?: unknown } = {}
): Promise<number> =>
  new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body)
    const req = Http.request(
      url,
      {
        agent,
        method: options.method ?? "GET",
        headers: {
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...(body === undefined ? {} : { "content-type": "application/json" })
        }
      },
      (res) => {
        res.resume()
        res.on("end", () => resolve(res.statusCode ?? 0))
      }
    )
    req.on("error", reject)
    req.end(body)
  })

describe("bounds on the real server", () => {
  let server: ServerProcess
  let user: TestUser
  beforeAll(async () => {
    server = await startServer({ MAX_OPEN_TASKS: "3", MAX_CONNECTIONS_PER_ADDRESS: String(PER_ADDRESS) })
    user = await registerUser(server.url, "Bounds")
  }, 120_000)
  afterAll(async () => {
    await server?.stop()
  })

  it("5,000 GET /tasks/<random uuid> answer 404 and leave no live task actor", async () => {
    expect(await liveActors(server.url, "task")).toBe(0)
    const statuses = await flood(5000, 8, (agent) =>
      send(agent, `${server.url}/api/v1/tasks/${randomUUID()}`, { token: user.token })
    )
    expect([...statuses]).toEqual([[404, 5000]])
    expect(await liveActors(server.url, "task")).toBe(0)
  }, 120_000)

  // 100, not the 300: each login pays a full password hash (the decoy's), which makes 300 take
  // over a minute on a busy 2-core machine; the bound is per request (each left one actor before).
  it("100 logins for unknown emails are refused and leave no live email actor", async () => {
    const before = await liveActors(server.url, "email")
    const statuses = await flood(100, 4, (agent) =>
      send(agent, `${server.url}/api/v1/auth/login`, {
        method: "POST",
        body: { email: `nobody-${randomUUID()}@example.com`, password: "correct horse battery" }
      })
    )
    // Refused one way or another (wrong credentials, or throttled), never a 5xx.
    expect([...statuses.keys()].every((status) => status >= 400 && status < 500)).toBe(true)
    expect(await liveActors(server.url, "email")).toBe(before)
  }, 180_000)

  it("MAX_OPEN_TASKS=3: the fourth open task is 409 TooManyOpenTasks with the envelope, and writes nothing", async () => {
    const owner = await registerUser(server.url, "Quota")
    const body = { title: "Focus", duration_minutes: 25 }
    for (let i = 0; i < 3; i++) {
      expect((await call(server.url, "POST", "/api/v1/tasks", { token: owner.token, body })).status).toBe(201)
    }
    const events = countEvents(server.dataDir)
    const refused = await call(server.url, "POST", "/api/v1/tasks", { token: owner.token, body })
    expect(refused.status).toBe(409)
    expect(refused.json()).toEqual({
      _tag: "TooManyOpenTasks",
      message: "At most 3 open tasks; complete or delete one first",
      details: { limit: 3, open: 3 }
    } satisfies Envelope)
    expect(countEvents(server.dataDir)).toBe(events)

    const dashboard = (
      await call(server.url, "GET", "/api/v1/tasks/dashboard", { token: owner.token })
    ).json()
    expect(dashboard).toMatchObject({
      total_active_tasks: 3,
      total_completed_tasks: 0,
      today: { total_blocks: 0 }
    })

    const listed = (await call(server.url, "GET", "/api/v1/tasks", { token: owner.token })).json() as {
      items: ReadonlyArray<{ id: string }>
    }
    const first = listed.items[0]?.id
    expect((await call(server.url, "DELETE", `/api/v1/tasks/${first}`, { token: owner.token })).status).toBe(
      204
    )
    expect((await call(server.url, "POST", "/api/v1/tasks", { token: owner.token, body })).status).toBe(201)

    // The workflow that runs chains first is refused before any of them runs (their runs are events).
    const beforeWorkflow = countEvents(server.dataDir)
    const enhanced = await call(server.url, "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
      token: owner.token,
      body: { title: "Plan the launch", description: "", duration_minutes: 50 }
    })
    expect(enhanced.status).toBe(409)
    expect(enhanced.json()).toMatchObject({ _tag: "TooManyOpenTasks", details: { limit: 3, open: 3 } })
    expect(countEvents(server.dataDir)).toBe(beforeWorkflow)
  })

  it("the OpenAPI document declares the 409 and the dashboard's totals", async () => {
    const doc = (await request(`${server.url}/openapi.json`)).json() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> }
    }
    expect(JSON.stringify(doc.paths["/api/v1/tasks"]?.post?.responses["409"])).toContain("TooManyOpenTasks")
    const dashboard = doc.components.schemas.Dashboard?.properties ?? {}
    expect(Object.keys(dashboard)).toEqual(
      expect.arrayContaining(["active_tasks", "total_active_tasks", "total_completed_tasks", "today"])
    )
  })

  it(`past ${PER_ADDRESS} connections from 127.0.0.2 the next is answered 503, while 127.0.0.3 is served`, async () => {
    const { port } = server
    const open = (localAddress: string) =>
      new Promise<Net.Socket>((resolve, reject) => {
        const socket = Net.connect({ port, host: "127.0.0.1", localAddress }, () => resolve(socket))
        socket.on("error", reject)
      })
    const held = await Promise.all(Array.from({ length: PER_ADDRESS }, () => open("127.0.0.2")))
    try {
      // Each held connection is really served (admitted), one request each, kept alive.
      await Promise.all(
        held.map(
          (socket) =>
            new Promise<void>((resolve) => {
              socket.once("data", () => resolve())
              socket.write("GET /health/live HTTP/1.1\r\nHost: focusforge\r\n\r\n")
            })
        )
      )
      const excess = await open("127.0.0.2")
      const refused = await new Promise<string>((resolve) => {
        let data = ""
        excess.on("data", (chunk: Buffer) => {
          data += chunk.toString()
        })
        excess.on("close", () => resolve(data))
        excess.write("GET /health/live HTTP/1.1\r\nHost: focusforge\r\n\r\n")
      })
      expect(refused).toMatch(/^HTTP\/1\.1 503 /)
      const other = await new Promise<number>((resolve, reject) => {
        Http.get(`${server.url}/health/live`, { localAddress: "127.0.0.3", agent: false }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        }).on("error", reject)
      })
      expect(other).toBe(200)
    } finally {
      for (const socket of held) socket.destroy()
    }
  })
})

describe("open tasks stored by the previous build", () => {
  let server: ServerProcess
  afterAll(async () => {
    await server?.stop()
  })

  it("count towards MAX_OPEN_TASKS: the fixture user's two open tasks leave one slot of three", async () => {
    const fixture = new URL("./fixtures/store-v1/", import.meta.url).pathname
    const dataDir = tempDataDir()
    copyFileSync(join(fixture, "focusforge.db"), join(dataDir, "focusforge.db"))
    server = await startServer({
      DATA_DIR: dataDir,
      BACKGROUND_JOBS: "worker",
      MAX_OPEN_TASKS: "3",
      ...FIXTURE_ENV
    })
    // The fixture's own tokens predate `iss`/`aud`/`kid` and are refused: log in as its user.
    const login = await call(server.url, "POST", "/api/v1/auth/login", {
      body: { email: "fixture-ann@example.com", password: FIXTURE_PASSWORD }
    })
    expect(login.status).toBe(200)
    const token = (login.json() as { access_token: string }).access_token
    const body = { title: "After the upgrade", duration_minutes: 25 }
    const created = await call(server.url, "POST", "/api/v1/tasks", { token, body })
    expect(created.status).toBe(201)
    const refused = await call(server.url, "POST", "/api/v1/tasks", { token, body })
    expect(refused.status).toBe(409)
    expect(refused.json()).toMatchObject({ _tag: "TooManyOpenTasks", details: { limit: 3, open: 3 } })
  }, 120_000)
})
