import { afterAll, describe, expect, it } from "vitest"
import { runEntry, type ServerProcess, startServer } from "./support/server.ts"

/** Waits until the server's output holds `text` (the banner comes just after the listening line). */
const waitFor = async (server: ServerProcess, text: string) => {
  const deadline = Date.now() + 30_000
  while (!server.output().includes(text) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

describe("LOG_FORMAT on a real server", () => {
  const running: Array<ServerProcess> = []
  afterAll(async () => {
    await Promise.all(running.map((server) => server.stop()))
  })

  it("json: every line is one JSON object", async () => {
    const server = await startServer({ LOG_FORMAT: "json" })
    running.push(server)
    await waitFor(server, "FocusForge is ready")
    const lines = server
      .output()
      .split("\n")
      .filter((line) => line.trim() !== "")
      // Node's own process warnings (stderr, e.g. a dependency's deprecation notice) are not our logs.
      .filter((line) => !line.startsWith("(node:") && !line.startsWith("(Use `node"))
    expect(lines.length).toBeGreaterThan(1)
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow()
  }, 120_000)

  it("pretty: human lines with the level and the message, not JSON", async () => {
    const server = await startServer({ LOG_FORMAT: "pretty" })
    running.push(server)
    await waitFor(server, "FocusForge is ready")
    const output = server.output()
    expect(output).toMatch(/INFO .*Listening on http:\/\/127\.0\.0\.1:\d+/)
    expect(output).toContain("FocusForge is ready")
    const first = output.split("\n")[0] ?? ""
    expect(() => JSON.parse(first)).toThrow()
  }, 120_000)

  it("refuses an unknown format with one line naming LOG_FORMAT", async () => {
    const run = runEntry("src/main.ts", { LOG_FORMAT: "xml", PORT: "0", HOST: "127.0.0.1" })
    expect(await run.exited).toBe(1)
    expect(run.output().trim()).toBe(
      'Invalid configuration: LOG_FORMAT: Expected one of json, pretty but received "xml"'
    )
  }, 60_000)
})
