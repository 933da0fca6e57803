import { spawn } from "node:child_process"
import { afterAll, describe, expect, it } from "vitest"
import { request } from "./support/http.ts"
import { runEntry, type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

const ROOT = new URL("..", import.meta.url).pathname
const ANSI_ESCAPE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g")

/** Waits until the output holds `text`; fails if the time runs out. */
const waitForText = async (output: () => string, text: string, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  while (!output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}":\n${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

interface LogLine {
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const jsonLines = (output: string): ReadonlyArray<LogLine> =>
  output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine)

describe("ACCESS_LOG", () => {
  const running: Array<ServerProcess> = []
  afterAll(async () => {
    await Promise.all(running.map((server) => server.stop()))
  })

  it("true: one line per request, through the logger (LOG_FORMAT=json), with the request id", async () => {
    const server = await startServer({ ACCESS_LOG: "true", LOG_FORMAT: "json" })
    running.push(server)
    const reply = await request(`${server.url}/api/v1/no-such-thing?secret=hunter2`, {
      headers: { "x-request-id": "access-log-404" }
    })
    expect(reply.status).toBe(404)
    await request(`${server.url}/health/live`, { headers: { "x-request-id": "access-log-200" } })
    await waitForText(server.output, "access-log-200")

    const lines = jsonLines(server.output()).filter((line) => line.annotations.request_id !== undefined)
    const notFound = lines.filter((line) => line.annotations.request_id === "access-log-404")
    expect(notFound).toHaveLength(1)
    expect(notFound[0]?.message).toMatch(/^GET \/api\/v1\/no-such-thing 404 \d+(\.\d)? ms$/)
    expect(notFound[0]?.annotations).toMatchObject({
      method: "GET",
      path: "/api/v1/no-such-thing",
      status: 404,
      duration_ms: expect.any(Number)
    })
    // The query string stays out of the log.
    expect(server.output()).not.toContain("hunter2")
    const live = lines.filter((line) => line.annotations.request_id === "access-log-200")
    expect(live.map((line) => line.annotations.status)).toEqual([200])
  }, 120_000)

  it("unset with stdout not a terminal: no request is logged", async () => {
    const server = await startServer({ LOG_FORMAT: "json" })
    await request(`${server.url}/health/live`, { headers: { "x-request-id": "not-logged-200" } })
    await request(`${server.url}/nowhere`, { headers: { "x-request-id": "not-logged-404" } })
    // Everything the process wrote is in once it has exited.
    await server.stop()
    expect(server.output()).toContain("released")
    expect(server.output()).not.toContain("not-logged-")
  }, 120_000)

  it("unset with stdout a terminal: requests are logged (a pseudo-terminal through script(1))", async () => {
    const command = `${JSON.stringify(process.execPath)} --import tsx src/main.ts`
    const child = spawn("script", ["-qfec", command, "/dev/null"], {
      cwd: ROOT,
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: tempDataDir(), NO_COLOR: "1" },
      stdio: ["pipe", "pipe", "pipe"],
      detached: true
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    const exited = new Promise((resolve) => child.on("exit", resolve))
    try {
      await waitForText(() => output, "FocusForge is ready")
      // The pretty format may colour the address: take the port from the text without escapes.
      const plain = () => output.replace(ANSI_ESCAPE, "")
      const port = /Listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(plain())?.[1]
      expect(port).toBeDefined()
      await request(`http://127.0.0.1:${port}/health/live`, { headers: { "x-request-id": "tty-logged" } })
      await waitForText(plain, "tty-logged")
      expect(plain()).toMatch(/GET \/health\/live 200 [\d.]+ ms/)
    } finally {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGTERM")
      await exited
    }
  }, 120_000)

  it("refuses anything but true or false with one line naming ACCESS_LOG", async () => {
    const run = runEntry("src/main.ts", { ACCESS_LOG: "yes", PORT: "0", HOST: "127.0.0.1" })
    expect(await run.exited).toBe(1)
    expect(run.output().trim()).toBe(
      'Invalid configuration: ACCESS_LOG: Expected one of true, false but received "yes"'
    )
  }, 60_000)
})
