import { afterAll, describe, expect, it } from "vitest"
import { join } from "node:path"
import { call, registerUser, type TestUser } from "./support/api.ts"
import { type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

describe("servers started together on an empty DATA_DIR", () => {
  const running: Array<ServerProcess> = []
  afterAll(async () => {
    await Promise.all(running.map((server) => server.stop()))
  })

  const startFour = async (dataDir: string) => {
    const servers = await Promise.all([1, 2, 3, 4].map(() => startServer({ DATA_DIR: dataDir })))
    running.push(...servers)
    return servers
  }

  /** The status of `GET /auth/me` for every (token, server) pair, as `user@server` → status. */
  const acceptance = async (users: ReadonlyArray<TestUser>, servers: ReadonlyArray<ServerProcess>) => {
    const entries = await Promise.all(
      users.flatMap((user, u) =>
        servers.map(async (server, s) => {
          const reply = await call(server.url, "GET", "/api/v1/auth/me", { token: user.token })
          return [`user${u}@server${s}`, reply.status] as const
        })
      )
    )
    return Object.fromEntries(entries)
  }

  it("accept each other's tokens, and still do once all four are restarted", async () => {
    // Not even the directory exists: the four create it, the JWT secret and the store together.
    const dataDir = join(tempDataDir(), "data")
    const servers = await startFour(dataDir)
    const users = await Promise.all(servers.map((server, i) => registerUser(server.url, `First${i}`)))
    const allAccepted = Object.fromEntries(
      users.flatMap((_, u) => servers.map((_, s) => [`user${u}@server${s}`, 200] as const))
    )
    expect(await acceptance(users, servers)).toEqual(allAccepted)

    expect(await Promise.all(servers.map((server) => server.stop()))).toEqual([0, 0, 0, 0])
    const restarted = await startFour(dataDir)
    expect(await acceptance(users, restarted)).toEqual(allAccepted)
  }, 180_000)
})
