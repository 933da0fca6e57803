import { afterAll, describe, expect, it } from "vitest"
import { reachableUrl } from "../src/http/startupBanner.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

describe("reachableUrl", () => {
  it("names loopback for the all-interfaces addresses and brackets IPv6", () => {
    expect(reachableUrl("0.0.0.0", 8000)).toBe("http://127.0.0.1:8000")
    expect(reachableUrl("::", 8000)).toBe("http://127.0.0.1:8000")
    expect(reachableUrl("127.0.0.2", 81)).toBe("http://127.0.0.2:81")
    expect(reachableUrl("::1", 81)).toBe("http://[::1]:81")
  })
})

describe("the start-up banner of a real server", () => {
  const running: Array<ServerProcess> = []
  afterAll(async () => {
    await Promise.all(running.map((server) => server.stop()))
  })

  it("names the reachable URL, /docs, /openapi.json, the mode and the data directory", async () => {
    // Tests bind loopback only; the all-interfaces mapping is the unit test above.
    const server = await startServer()
    running.push(server)
    const deadline = Date.now() + 30_000
    while (!server.output().includes("FocusForge is ready") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    const output = server.output()
    expect(output).toMatch(/Listening on http:\/\/[^:]+:\d+/)
    const line = output.split("\n").find((text) => text.includes("FocusForge is ready"))
    expect(line).toBeDefined()
    const record = JSON.parse(line ?? "{}") as { message: string; annotations: Record<string, string> }
    const url = `http://127.0.0.1:${server.port}`
    expect(record.annotations).toMatchObject({
      url,
      docs: `${url}/docs`,
      openapi: `${url}/openapi.json`,
      mode: "embedded",
      data_dir: server.dataDir
    })
    expect(record.message).toContain(`${url}/docs`)
    expect(record.message).toContain(`${url}/openapi.json`)
    expect(record.message).toContain("embedded")
    expect(record.message).toContain(server.dataDir)
  }, 120_000)
})
