import { afterAll, describe, expect, it } from "vitest"
import { call, createTask, focus, registerUser } from "./support/api.ts"
import { runScript, type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

/** The real server and the rebuild command on one DATA_DIR: the read models an operator sees. */
describe("persisted read models on the real server", () => {
  const running: Array<ServerProcess> = []
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()))
  })

  it("npm run projections:rebuild -- tasks drops and refolds the task list; the API answers the same", async () => {
    const dataDir = tempDataDir()
    const server = await startServer({ DATA_DIR: dataDir }, { entry: "test/support/testServer.ts" })
    running.push(server)
    const user = await registerUser(server.url, "Rebuilt")
    const tasks = []
    for (const title of ["One", "Two", "Three"]) {
      tasks.push(
        await createTask(server.url, user.token, { title, duration_minutes: 25, difficulty: "high" })
      )
    }
    await focus(server.url, user.token, tasks[1]?.id as string, tasks[1]?.blocks[0]?.id as string)
    await call(server.url, "DELETE", `/api/v1/tasks/${tasks[2]?.id}`, { token: user.token })
    const read = async () =>
      Promise.all(
        ["/api/v1/tasks?limit=100", "/api/v1/tasks?status=completed", "/api/v1/tasks/dashboard"].map(
          async (path) => (await call(server.url, "GET", path, { token: user.token })).json()
        )
      )
    const before = await read()
    expect((before[0] as { total: number }).total).toBe(2)

    // While the server runs: it needs no restart, its next listing folds from the new checkpoint.
    const rebuild = runScript("src/rebuildReadModel.ts", ["tasks"], {
      DATA_DIR: dataDir,
      LOG_LEVEL: "Warning"
    })
    expect(await rebuild.exited).toBe(0)
    expect(rebuild.output()).toMatch(/rebuilt tasks: \d+ events folded, checkpoint at \d+/)
    expect(await read()).toEqual(before)
  })

  it("an unknown read model name is refused with the list of names, exit code 2", async () => {
    const run = runScript("src/rebuildReadModel.ts", ["nope"], { DATA_DIR: tempDataDir() })
    expect(await run.exited).toBe(2)
    expect(run.output()).toContain("usage: npm run projections:rebuild -- <tasks|planner|block-credits>")
  })

  it("/health lists each subscription with its lag; a restart answers from the table, not the log", async () => {
    const dataDir = tempDataDir()
    const first = await startServer({ DATA_DIR: dataDir }, { entry: "test/support/testServer.ts" })
    running.push(first)
    const user = await registerUser(first.url, "Restarted")
    await createTask(first.url, user.token, { title: "Kept", duration_minutes: 25, difficulty: "low" })
    const listing = (await call(first.url, "GET", "/api/v1/tasks", { token: user.token })).json()
    expect(await first.stop()).toBe(0)

    const second = await startServer({ DATA_DIR: dataDir }, { entry: "test/support/testServer.ts" })
    running.push(second)
    const ready = await call(second.url, "GET", "/health/ready")
    expect(ready.status).toBe(200)
    const health = (await call(second.url, "GET", "/health")).json() as {
      components: Record<string, { status: string; details?: { lag_events?: number } }>
    }
    expect(health.components["subscription:tasks"]?.status).toBe("healthy")
    expect(health.components["subscription:tasks"]?.details?.lag_events).toBe(0)
    expect((await call(second.url, "GET", "/api/v1/tasks", { token: user.token })).json()).toEqual(listing)
    const metrics = await call(second.url, "GET", "/metrics")
    expect(metrics.text).toMatch(/focusforge_subscription_lag_events\{subscription="tasks"\} 0/)
  })
})
