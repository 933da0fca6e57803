import * as Http from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { call, createTask, focus, registerUser } from "./support/api.ts"
import { request } from "./support/http.ts"
import { hasCommand, httpStatus, type Stack, startStack } from "./support/stack.ts"

/**
 * The production topology on loopback: nginx (from the repository's nginx.conf) in front of two app
 * instances sharing one SQLite DATA_DIR and one Redis (master + replica), a worker, and Prometheus
 * when installed. Request counts and durations are bounded; everything listens on 127.0.0.1.
 */

const NGINX = hasCommand("nginx") && hasCommand("redis-server")
if (!NGINX) {
  console.warn(
    "skipped: the loopback stack needs nginx and redis-server (apt-get install -y nginx redis-server)"
  )
}

interface Outcome {
  readonly status: number
  readonly instance: string | undefined
  readonly error?: string
}

/** One GET through nginx on a fresh connection; network errors become status 0. */
const get = (url: string, headers: Record<string, string> = {}): Promise<Outcome> =>
  new Promise((resolve) => {
    const req = Http.get(url, { agent: false, headers, timeout: 20_000 }, (res) => {
      res.resume()
      res.on("end", () => {
        const instance = res.headers["x-instance-id"]
        resolve({
          status: res.statusCode ?? 0,
          instance: typeof instance === "string" ? instance : undefined
        })
      })
    })
    req.on("timeout", () => req.destroy(new Error("timeout")))
    req.on("error", (error) => resolve({ status: 0, instance: undefined, error: error.message }))
  })

/**
 * Steady load: `rate` GETs per second until `until` settles, spread over several client keys (bearer
 * tokens) so the load stays under nginx's per-client limit. At most `maxInFlight` at once; bounded by
 * `maxRequests`.
 */
const steadyLoad = async (
  url: string,
  until: Promise<unknown>,
  options: {
    readonly rate: number
    readonly keys: number
    readonly maxRequests: number
    readonly maxInFlight: number
  }
): Promise<ReadonlyArray<Outcome>> => {
  const pending: Array<Promise<Outcome>> = []
  let inFlight = 0
  let done = false
  void until.finally(() => {
    done = true
  })
  while (!done && pending.length < options.maxRequests) {
    if (inFlight < options.maxInFlight) {
      const key = `load-client-${pending.length % options.keys}`
      inFlight++
      pending.push(
        get(url, { authorization: `Bearer ${key}` }).finally(() => {
          inFlight--
        })
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 1000 / options.rate))
  }
  await until
  return Promise.all(pending)
}

/**
 * nginx only knows an instance is back when a request succeeds on it after `fail_timeout`: wait until
 * one answers through nginx, as an operator's rolling restart must before stopping the next instance.
 */
const waitInRotation = async (url: string, instance: string) => {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if ((await get(url, { authorization: "Bearer rotation-probe" })).instance === instance) return
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${instance} did not come back into nginx's rotation within 30 s`)
}

const summary = (outcomes: ReadonlyArray<Outcome>) => {
  const byStatus: Record<string, number> = {}
  for (const o of outcomes) byStatus[o.status] = (byStatus[o.status] ?? 0) + 1
  return byStatus
}

describe.skipIf(!NGINX)("the loopback production stack", () => {
  let stack: Stack
  const path = "/openapi.json"

  beforeAll(async () => {
    // Test-server instances: their clocks can be moved, so blocks completed through them earn (pay is
    // decided by server time since a block's start).
    stack = await startStack({ drainMs: 5_000, appEntry: "test/support/testServer.ts" })
  }, 120_000)
  afterAll(async () => {
    await stack?.stop()
  }, 60_000)

  it("reaches both instances through nginx", async () => {
    const seen = new Set<string | undefined>()
    for (let i = 0; i < 10; i++) {
      const reply = await get(`${stack.url}${path}`, { authorization: "Bearer spread" })
      expect(reply.status).toBe(200)
      seen.add(reply.instance)
    }
    expect([...seen].sort()).toEqual(["app-1", "app-2"])
  })

  it("keeps request ids, compresses JSON, adds security headers, hides /metrics, answers 413 itself", async () => {
    const kept = await request(`${stack.url}/health/live`, { headers: { "x-request-id": "edge-test-1" } })
    expect(kept.headers["x-request-id"]).toBe("edge-test-1")
    // Without one, nginx mints its own (32 hex digits; the app would have made a UUID).
    const minted = await request(`${stack.url}${path}`, { headers: { authorization: "Bearer headers" } })
    expect(minted.headers["x-request-id"]).toMatch(/^[0-9a-f]{32}$/)
    expect(minted.headers["x-content-type-options"]).toBe("nosniff")
    expect(minted.headers["x-frame-options"]).toBe("DENY")
    const gzipped = await request(`${stack.url}${path}`, {
      headers: { "accept-encoding": "gzip", authorization: "Bearer headers" }
    })
    expect(gzipped.headers["content-encoding"]).toBe("gzip")

    const metrics = await request(`${stack.url}/metrics`)
    expect(metrics.status).toBe(404)
    expect(metrics.headers["x-instance-id"]).toBeUndefined()

    const tooLarge = await request(`${stack.url}/api/v1/anything`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer big" },
      body: Buffer.alloc(2 * 1024 * 1024, "a")
    })
    expect(tooLarge.status).toBe(413)
    expect(tooLarge.json()).toMatchObject({ _tag: "PayloadTooLarge" })
    expect(tooLarge.headers["x-instance-id"]).toBeUndefined()
  })

  it("answers 429 from nginx when one client exceeds the API rate limit", async () => {
    const replies = await Promise.all(
      Array.from({ length: 40 }, () => get(`${stack.url}${path}`, { authorization: "Bearer greedy" }))
    )
    const limited = replies.filter((r) => r.status === 429)
    // 10 r/s with a burst of 20: of 40 simultaneous requests, at least ~19 are refused.
    expect(limited.length).toBeGreaterThanOrEqual(15)
    // Refused by nginx itself: no instance saw them.
    expect(limited.every((r) => r.instance === undefined)).toBe(true)
    expect(replies.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(20)
    const reply = await request(`${stack.url}${path}`, { headers: { authorization: "Bearer greedy" } })
    if (reply.status === 429) {
      expect(reply.json()).toMatchObject({ _tag: "TooManyRequests" })
      expect(reply.headers["retry-after"]).toBe("1")
    }
    // Another client is not affected.
    expect((await get(`${stack.url}${path}`, { authorization: "Bearer polite" })).status).toBe(200)
  })

  it("loses no idempotent request when an instance is killed mid-run", async () => {
    const killed = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      await stack.stopInstance(0, "SIGKILL")
      await new Promise((resolve) => setTimeout(resolve, 2_000))
    })()
    const outcomes = await steadyLoad(`${stack.url}${path}`, killed, {
      rate: 20,
      keys: 6,
      maxRequests: 120,
      maxInFlight: 8
    })
    expect(outcomes.length).toBeGreaterThan(30)
    expect(summary(outcomes)).toEqual({ 200: outcomes.length })
    // Some went to the killed instance before it died, all of the later ones to the survivor.
    expect(new Set(outcomes.map((o) => o.instance))).toEqual(new Set(["app-1", "app-2"]))
    await stack.startInstance(0)
    await waitInRotation(`${stack.url}${path}`, "app-1")
  }, 120_000)

  it("returns zero 5xx under steady load during a rolling restart", async () => {
    const events: Array<string> = []
    const rolling = (async () => {
      for (const index of [0, 1]) {
        const code = await stack.stopInstance(index, "SIGTERM")
        events.push(`app-${index + 1} exited ${code}`)
        await stack.startInstance(index)
        await waitInRotation(`${stack.url}${path}`, `app-${index + 1}`)
        events.push(`app-${index + 1} ready`)
      }
    })()
    const outcomes = await steadyLoad(`${stack.url}${path}`, rolling, {
      rate: 15,
      keys: 6,
      maxRequests: 1_500,
      maxInFlight: 8
    })
    expect(events).toEqual(["app-1 exited 0", "app-1 ready", "app-2 exited 0", "app-2 ready"])
    expect(outcomes.length).toBeGreaterThan(50)
    expect(summary(outcomes)).toEqual({ 200: outcomes.length })
    for (const instance of stack.instances) {
      expect(await httpStatus(`${instance.url}/health/ready`)).toBe(200)
    }
  }, 180_000)

  it("Prometheus (when installed) scrapes both instances", async () => {
    if (!stack.prometheusUrl) {
      console.warn("skipped: prometheus is not installed (apt-get install -y prometheus)")
      return
    }
    // /metrics comes with the observability work; until an instance serves it, the target is
    // scraped and reported down with a 404, which still proves discovery and reachability.
    const serving =
      (await httpStatus(`${stack.instances[0]?.url}/metrics`, {
        authorization: `Bearer ${stack.metricsToken}`
      })) === 200
    type Target = { labels: { job: string; instance: string }; health: string; lastError: string }
    let targets: Array<Target> = []
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      const reply = await request(`${stack.prometheusUrl}/api/v1/targets?state=active`)
      targets = (reply.json() as { data: { activeTargets: Array<Target> } }).data.activeTargets.filter(
        (t) => t.labels.job === "focusforge"
      )
      // Scrapes during the restarts failed with "connection refused": wait for fresh ones.
      const settled =
        targets.length === 2 &&
        targets.every((t) => (serving ? t.health === "up" : t.lastError.includes("404")))
      if (settled) break
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    expect(targets.map((t) => t.labels.instance).sort()).toEqual(
      stack.instances.map((i) => `127.0.0.1:${i.port}`).sort()
    )
    if (serving) {
      expect(targets.map((t) => t.health)).toEqual(["up", "up"])
    } else {
      console.warn(
        "note: instances do not serve /metrics on this branch yet; checked targets are scraped (404)"
      )
      for (const t of targets) expect(t.lastError).toContain("404")
    }
  }, 60_000)

  it("keeps a user's wallet exact when their commands alternate between the instances", async () => {
    const [a, b] = stack.instances.map((instance) => instance.url) as [string, string]
    const user = await registerUser(a, "Alternating")
    const task = await createTask(b, user.token, {
      title: "Shared store",
      duration_minutes: 100,
      difficulty: "high"
    })
    expect(task.blocks).toHaveLength(4)
    let earned = 0
    for (const [index, block] of task.blocks.entries()) {
      const done = await focus(index % 2 === 0 ? a : b, user.token, task.id, block.id)
      earned += done.tokens_earned + done.bonus_tokens
    }
    // Concurrent purchases split over both instances: the shared store's optimistic concurrency must
    // serialise them, so no purchase is lost and the balance never goes below zero.
    const purchases = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(i % 2 === 0 ? a : b, "POST", "/api/v1/store/purchase/quick-break-5m", {
          token: user.token,
          headers: { "idempotency-key": `purchase-${i}` }
        })
      )
    )
    expect(purchases.every((reply) => reply.status === 201 || reply.status === 409)).toBe(true)
    const bought = purchases.filter((reply) => reply.status === 201).length
    expect(bought).toBeGreaterThan(0)

    type Profile = { balance: number; total_earned: number; total_spent: number }
    const [fromA, fromB] = await Promise.all(
      [a, b].map(
        async (base) =>
          (await call(base, "GET", "/api/v1/store/profile", { token: user.token })).json() as Profile
      )
    )
    expect(fromA).toEqual(fromB)
    expect(fromA?.balance).toBe((fromA?.total_earned ?? 0) - (fromA?.total_spent ?? 0))
    expect(fromA?.balance).toBeGreaterThanOrEqual(0)
    expect(fromA?.total_earned).toBeGreaterThanOrEqual(earned)
    const ledger = (
      await call(b, "GET", "/api/v1/store/transactions?limit=100", { token: user.token })
    ).json() as { items: ReadonlyArray<{ amount: number }> }
    expect(ledger.items.reduce((sum, line) => sum + line.amount, 0)).toBe(fromA?.balance)
  }, 120_000)
})
