/**
 * A hostile client against the real server (`src/main.ts`, embedded store), issue 16 items 3–8 in one
 * run, while a normal user keeps using the app from another address. The normal user's requests must all
 * succeed (no failure, no 5xx); the attacker only ever gets 4xx (or 503 Overloaded when it floods the
 * password hasher); the server stays healthy, writes nothing for refused requests, and holds no more live
 * actors afterwards than the attacker's few real entities need. RSS is read before and after and reported
 * (not asserted: the machine is shared). Bounded in count and time, loopback only.
 */
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DatabaseSync } from "node:sqlite"
import { join } from "node:path"
import { call, TEST_JWT_SECRET } from "../support/api.ts"
import type { Reply } from "../support/http.ts"
import { type ServerProcess, startServer } from "../support/server.ts"

const NORMAL = "127.0.0.1"
const ATTACKER = "127.0.0.2"
const VICTIM = "127.0.0.3"
const MAX_OPEN_TASKS = 20
const PASSWORD = "correct horse battery"

/** One call from `from` on a fresh connection (so each is a new peer as the server sees it). */
const send = (
  base: string,
  from: string,
  method: string,
  path: string,
  options: Omit<Parameters<typeof call>[3] & object, "localAddress"> = {}
): Promise<Reply> => call(base, method, path, { ...options, localAddress: from })

const rssMb = (pid: number): number => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"))
  return Math.round(Number(/(\d+)/.exec(line ?? "")?.[1] ?? 0) / 1024)
}

/** Every live actor, as the server's own gauge reports them. */
const liveActors = async (base: string): Promise<number> => {
  const text = (await send(base, NORMAL, "GET", "/metrics")).text
  const line = text.split("\n").find((l) => l.startsWith("focusforge_actors_live_all_kinds"))
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(" ") + 1))
}

/** Events in the store, except those of the normal user's own streams (it keeps writing meanwhile). */
const eventsBesides = (dataDir: string, userId: string): number => {
  const db = new DatabaseSync(join(dataDir, "focusforge.db"), { readOnly: true })
  try {
    const row = db.prepare("SELECT COUNT(*) AS n FROM events WHERE instr(stream_id, ?) = 0").get(userId) as
      | { n: number }
      | undefined
    return row?.n ?? 0
  } finally {
    db.close()
  }
}

const register = async (base: string, from: string, name: string) => {
  const email = `${name}-${randomUUID()}@example.com`
  const reply = await send(base, from, "POST", "/api/v1/auth/register", {
    body: { email, password: PASSWORD, display_name: name }
  })
  expect(reply.status, reply.text).toBe(201)
  const session = JSON.parse(reply.text) as { access_token: string; user: { id: string } }
  return { email, id: session.user.id, token: session.access_token }
}

/** Runs `one` `count` times, `concurrency` at a time; the statuses seen, by status. */
const many = async (count: number, concurrency: number, one: (i: number) => Promise<Reply>) => {
  const statuses = new Map<number, number>()
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const { status } = await one(next++)
        statuses.set(status, (statuses.get(status) ?? 0) + 1)
      }
    })
  )
  return statuses
}

describe("a hostile client beside a normal user", () => {
  let server: ServerProcess
  let base: string
  const normalStatuses: Array<{ readonly what: string; readonly status: number }> = []
  const attackStatuses = new Map<number, number>()
  let stopNormal = false
  let normalLoop: Promise<void> = Promise.resolve()
  let normalId = ""
  const countEvents = (dataDir: string) => eventsBesides(dataDir, normalId)

  const attacked = (statuses: Map<number, number>) => {
    for (const [status, n] of statuses) attackStatuses.set(status, (attackStatuses.get(status) ?? 0) + n)
  }

  beforeAll(async () => {
    server = await startServer({
      JWT_SECRET: TEST_JWT_SECRET,
      MAX_OPEN_TASKS: String(MAX_OPEN_TASKS),
      // The suite's harness raises it; the attacker's address is what this scenario limits.
      REGISTER_MAX_PER_ADDRESS: "10"
    })
    base = server.url
    const normal = await register(base, NORMAL, "normal")
    normalId = normal.id
    // The normal user's app: reads and writes, one at a time, until the attack is over.
    normalLoop = (async () => {
      let round = 0
      while (!stopNormal) {
        const steps: ReadonlyArray<readonly [string, () => Promise<Reply>]> = [
          ["profile", () => send(base, NORMAL, "GET", "/api/v1/store/profile", { token: normal.token })],
          ["dashboard", () => send(base, NORMAL, "GET", "/api/v1/tasks/dashboard", { token: normal.token })],
          [
            "mood",
            () =>
              send(base, NORMAL, "POST", "/api/v1/mood", {
                token: normal.token,
                body: { score: 1 + (round % 10), energy: 5, stress: 3 }
              })
          ]
        ]
        for (const [what, step] of steps) normalStatuses.push({ what, status: (await step()).status })
        round += 1
      }
    })()
  }, 120_000)

  afterAll(async () => {
    stopNormal = true
    await normalLoop
    await server?.stop()
  })

  it("answers every attack with a 4xx (503 only from the saturated hasher), keeps the normal user served, and holds no extra actors", async () => {
    const actorsBefore = await liveActors(base)
    const rssBefore = rssMb(server.child.pid!)
    const attacker = await register(base, ATTACKER, "attacker")
    const victim = await register(base, VICTIM, "victim")
    let accounts = 2

    // 3. Deep JSON, before and after login.
    for (const depth of [65, 3_000, 100_000]) {
      const raw = `${"[".repeat(depth)}${"]".repeat(depth)}`
      const before = countEvents(server.dataDir)
      const login = await send(base, ATTACKER, "POST", "/api/v1/auth/login", { raw })
      const mood = await send(base, ATTACKER, "POST", "/api/v1/mood", { token: attacker.token, raw })
      expect([login.status, mood.status]).toEqual([400, 400])
      expect(JSON.parse(mood.text)).toMatchObject({ _tag: "MalformedRequest" })
      expect(countEvents(server.dataDir)).toBe(before)
    }

    // 4. A workflow request the domain refuses is refused before any chain runs: nothing stored.
    {
      const before = countEvents(server.dataDir)
      const reply = await send(base, ATTACKER, "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
        token: attacker.token,
        body: { title: "   " }
      })
      expect(reply.status).toBe(400)
      expect(countEvents(server.dataDir)).toBe(before)
    }

    // 5. Object built-ins as ids and as Idempotency-Key.
    {
      const before = countEvents(server.dataDir)
      for (const name of Object.getOwnPropertyNames(Object.prototype)) {
        const id = encodeURIComponent(name)
        const use = await send(base, ATTACKER, "POST", `/api/v1/store/rewards/${id}/use`, {
          token: attacker.token
        })
        const task = await send(base, ATTACKER, "GET", `/api/v1/tasks/${id}`, { token: attacker.token })
        const buy = await send(base, ATTACKER, "POST", "/api/v1/store/purchase/quick-break-5m", {
          token: attacker.token,
          headers: { "idempotency-key": name }
        })
        for (const reply of [use, task, buy]) {
          expect(reply.status, `${name}: ${reply.text}`).toBeGreaterThanOrEqual(400)
          expect(reply.status, `${name}: ${reply.text}`).toBeLessThan(500)
        }
      }
      expect(countEvents(server.dataDir)).toBe(before)
    }

    // 6. Guessing the victim's password from one address does not lock the victim out of another.
    {
      const guesses = await many(12, 1, () =>
        send(base, ATTACKER, "POST", "/api/v1/auth/login", {
          body: { email: victim.email, password: "wrong guess 1" }
        })
      )
      attacked(guesses)
      expect(guesses.get(429)).toBeGreaterThan(0)
      const own = await send(base, VICTIM, "POST", "/api/v1/auth/login", {
        body: { email: victim.email, password: PASSWORD }
      })
      expect(own.status, own.text).toBe(200)
    }

    // 7. Memory: 404 floods and unknown emails cost no actor; the open-task cap holds; the dashboard is bounded.
    {
      attacked(
        await many(1_000, 16, () =>
          send(base, ATTACKER, "GET", `/api/v1/tasks/${randomUUID()}`, { token: attacker.token })
        )
      )
      attacked(
        await many(40, 4, (i) =>
          send(base, ATTACKER, "POST", "/api/v1/auth/login", {
            body: { email: `nobody-${i}-${randomUUID()}@example.com`, password: "wrong guess 1" }
          })
        )
      )
      const created = await many(MAX_OPEN_TASKS + 5, 2, (i) =>
        send(base, ATTACKER, "POST", "/api/v1/tasks", {
          token: attacker.token,
          body: { title: `Task ${i}`, duration_minutes: 25, difficulty: "low" }
        })
      )
      expect(created.get(201)).toBe(MAX_OPEN_TASKS)
      expect(created.get(409)).toBe(5)
      const dashboard = await send(base, ATTACKER, "GET", "/api/v1/tasks/dashboard", {
        token: attacker.token
      })
      expect(dashboard.status).toBe(200)
      expect(dashboard.text.length).toBeLessThan(256 * 1024)
      const registrations = await many(12, 1, (i) =>
        send(base, ATTACKER, "POST", "/api/v1/auth/register", {
          body: { email: `sock-${i}-${randomUUID()}@example.com`, password: PASSWORD, display_name: "Sock" }
        })
      )
      attacked(registrations)
      expect(registrations.get(429)).toBeGreaterThan(0)
      accounts += registrations.get(201) ?? 0
    }

    // 8. A login storm: every login is answered (401, 429 or 503 Overloaded), none holds the others up.
    attacked(
      await many(150, 150, () =>
        send(base, ATTACKER, "POST", "/api/v1/auth/login", {
          body: { email: `storm-${randomUUID()}@example.com`, password: "wrong guess 1" }
        })
      )
    )

    for (const status of attackStatuses.keys()) {
      expect(status === 503 || status < 500, `attacker got ${status}`).toBe(true)
    }
    const health = await send(base, NORMAL, "GET", "/health")
    expect(health.status, health.text).toBe(200)
    const actorsAfter = await liveActors(base)
    const rssAfter = rssMb(server.child.pid!)
    console.log(
      `hostile client: live actors ${actorsBefore} -> ${actorsAfter}, RSS ${rssBefore} -> ${rssAfter} MB, ` +
        `attacker statuses ${JSON.stringify(Object.fromEntries(attackStatuses))}, ` +
        `normal user requests ${normalStatuses.length}`
    )
    // Only real entities stay live: per account its stream, email claim, skeleton claim and wallet, plus
    // the attacker's tasks and quota. The 1,000 404s and ~190 unknown-email logins add nothing.
    expect(actorsAfter - actorsBefore).toBeLessThanOrEqual(MAX_OPEN_TASKS + 4 * accounts + 10)

    stopNormal = true
    await normalLoop
    expect(normalStatuses.length).toBeGreaterThan(0)
    const failed = normalStatuses.filter(({ status }) => status < 200 || status >= 300)
    expect(failed).toEqual([])
  }, 240_000)
})
