import { Redis as IORedis } from "ioredis"
import { performance } from "node:perf_hooks"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { registerUser, type TestUser } from "../support/api.ts"
import { request } from "../support/http.ts"
import { type Load, type LoadClient, startLoad, waitUntil } from "../support/load.ts"
import { type RedisProcess, startRedis, testPrefix } from "../support/redisServer.ts"
import { type ServerProcess, startServer } from "../support/server.ts"

/**
 * (a) Redis hung (SIGSTOP), then killed, then restarted on the same port while keep-alive clients keep
 * calling the API: not one request fails, /health goes degraded and back, and the cache writes reach the
 * new Redis.
 */

interface HealthBody {
  readonly status: string
  readonly components: Record<string, { readonly status: string; readonly details?: unknown }>
}
const health = async (server: ServerProcess) => (await request(`${server.url}/health`)).json() as HealthBody
const cacheStatus = async (server: ServerProcess) => (await health(server)).components.cache?.status

/** Keys under `prefix` in the given Redis, over a fresh connection (empty when it does not answer). */
const keysIn = async (redis: RedisProcess, prefix: string): Promise<ReadonlyArray<string>> => {
  const client = new IORedis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
  client.on("error", () => {})
  try {
    await client.connect()
    return await client.keys(`${prefix}*`)
  } catch {
    return []
  } finally {
    client.disconnect()
  }
}

/**
 * A user's round: reads that go through the cache (memory context; the breakdown chain behind task
 * creation), plain reads (tasks, wallet, catalog), commands (create, start, complete), and every third
 * round an enhanced task creation, which writes the user's working memory to the cache.
 */
const userRound = (user: TestUser) => async (client: LoadClient, round: number) => {
  const token = user.token
  await client.call("tasks.list", "GET", "/api/v1/tasks?limit=5", { token })
  await client.call("store.profile", "GET", "/api/v1/store/profile", { token })
  await client.call("store.items", "GET", "/api/v1/store/items", { token })
  await client.call("memory.context", "GET", "/api/v1/orchestrator/memory/user-context", { token })
  const task = (
    await client.call("tasks.create", "POST", "/api/v1/tasks", {
      token,
      body: { title: `Focus round ${round % 5}`, duration_minutes: 4, difficulty: "low" }
    })
  ).json() as { id: string; blocks: ReadonlyArray<{ id: string }> }
  const block = task.blocks[0]!.id
  await client.call("block.start", "POST", `/api/v1/tasks/${task.id}/blocks/${block}/start`, { token })
  await client.call("block.complete", "POST", `/api/v1/tasks/${task.id}/blocks/${block}/complete`, {
    token,
    body: { effort_rating: 7 }
  })
  if (round % 3 === 0) {
    await client.call("orchestrator.createEnhanced", "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
      token,
      body: { title: `Write chapter ${round}`, description: "draft and edit", duration_minutes: 25 }
    })
  }
}

describe("fault: Redis stops and comes back under load", () => {
  const prefix = testPrefix()
  let redis: RedisProcess
  let replacement: RedisProcess | undefined
  let server: ServerProcess
  let load: Load | undefined

  beforeAll(async () => {
    redis = await startRedis()
    server = await startServer({ REDIS_URL: redis.url, CACHE_PREFIX: prefix })
  })
  afterAll(async () => {
    await load?.stop()
    await server?.stop()
    await redis?.kill()
    await replacement?.kill()
  })

  it("hung, killed and restarted on the same port: zero failed requests, health degrades and recovers, writes reach the new Redis", async () => {
    const users = await Promise.all(
      Array.from({ length: 6 }, (_, i) => registerUser(server.url, `Cache${i}`))
    )
    await waitUntil(
      "cache healthy",
      () => cacheStatus(server),
      (s) => s === "healthy"
    )

    const rounds = users.map(userRound)
    const started = startLoad({
      base: server.url,
      clients: users.length,
      round: (client, round) => rounds[client.index]!(client, round),
      maxMs: 90_000,
      maxRequests: 30_000
    })
    load = started
    const okSince = (from: number) => started.samples.filter((s) => s.ok && s.startedAt >= from).length

    // Steady state: the load runs and its cache writes land in Redis.
    await waitUntil(
      "load running",
      async () => okSince(0),
      (n) => n >= 100
    )
    const before = await keysIn(redis, `${prefix}memory:`)
    expect(before.length).toBeGreaterThan(0)

    // Hung: Redis accepts nothing and answers nothing.
    const hungAt = performance.now()
    process.kill(redis.pid, "SIGSTOP")
    const degraded = await waitUntil(
      "cache degraded",
      () => health(server),
      (h) => h.components.cache?.status === "degraded"
    )
    expect(degraded.status).toBe("degraded")
    await waitUntil(
      "requests while hung",
      async () => okSince(hungAt),
      (n) => n >= 100
    )

    // Gone: killed while stopped, then a while with nothing listening on the port.
    const downAt = performance.now()
    await redis.kill()
    await waitUntil(
      "requests while down",
      async () => okSince(downAt),
      (n) => n >= 100
    )
    expect((await health(server)).components.redis?.status).toBe("degraded")

    // Back on the same port, empty (no persistence): whatever shows up in it was written after the restart.
    const restartedAt = performance.now()
    replacement = await startRedis(redis.port)
    const back = replacement
    await waitUntil(
      "cache healthy again",
      () => health(server),
      (h) => h.components.cache?.status === "healthy" && h.components.redis?.status === "healthy",
      30_000
    )
    const written = await waitUntil(
      "cache writes reach the new Redis",
      () => keysIn(back, `${prefix}memory:`),
      (keys) => keys.length > 0,
      30_000
    )
    await waitUntil(
      "requests after the restart",
      async () => okSince(restartedAt),
      (n) => n >= 150
    )
    await started.stop()

    const summary = started.summary()
    expect(started.failures(), summary).toEqual([])
    expect(okSince(hungAt) - okSince(downAt)).toBeGreaterThan(0)
    expect(okSince(downAt) - okSince(restartedAt)).toBeGreaterThan(0)
    expect(written.length).toBeGreaterThan(0)
    console.info(`Redis outage under load: ${summary}`)
  })
})
