import { afterAll, describe, expect, it } from "vitest"
import { call, createTask, focus, registerUser } from "./support/api.ts"
import { type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

describe("data survives a restart of the server process", () => {
  const dataDir = tempDataDir()
  const running: Array<ServerProcess> = []
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()))
  })

  it("accounts, tokens, tasks, wallet and moods are all there after SIGTERM and a new process on the same DATA_DIR", async () => {
    // The test server (the API as main.ts serves it): `focus` moves its clock so blocks earn full pay.
    const first = await startServer({ DATA_DIR: dataDir }, { entry: "test/support/testServer.ts" })
    running.push(first)
    const user = await registerUser(first.url, "Durable")
    const task = await createTask(first.url, user.token, {
      title: "Survive",
      duration_minutes: 50,
      difficulty: "medium"
    })
    await focus(first.url, user.token, task.id, task.blocks[0]?.id as string)
    await call(first.url, "POST", "/api/v1/mood", {
      token: user.token,
      body: { score: 8, energy: 7, stress: 2 }
    })
    await call(first.url, "POST", "/api/v1/store/purchase/focus-music-premium", { token: user.token })
    const paths = [
      `/api/v1/tasks/${task.id}`,
      "/api/v1/tasks",
      "/api/v1/store/profile",
      "/api/v1/store/transactions",
      "/api/v1/mood"
    ]
    const read = (base: string, token: string) =>
      Promise.all(paths.map(async (p) => (await call(base, "GET", p, { token })).json()))
    const before = await read(first.url, user.token)
    expect(await first.stop()).toBe(0)

    const second = await startServer({ DATA_DIR: dataDir }, { entry: "test/support/testServer.ts" })
    running.push(second)
    // The token issued by the first process still verifies (the generated secret is kept in DATA_DIR).
    expect(await read(second.url, user.token)).toEqual(before)
    const login = await call(second.url, "POST", "/api/v1/auth/login", {
      body: { email: user.email, password: user.password }
    })
    expect(login.status).toBe(200)
    // The restarted process goes on from the stored state: the second block completes the task.
    const done = await focus(second.url, user.token, task.id, task.blocks[1]?.id as string)
    expect(done.task.status).toBe("completed")
  }, 90_000)
})
