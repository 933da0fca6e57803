import { Validator } from "@seriousme/openapi-schema-validator"
import * as Net from "node:net"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { rawUpload, request } from "./support/http.ts"
import { runEntry, type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

const envelopeOf = (text: string) => JSON.parse(text) as { _tag: string; message: string; details?: unknown }

describe("the real server on the embedded default", () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await startServer()
  })
  afterAll(async () => {
    await server.stop()
  })

  it("answers /health 200 with one entry per component", async () => {
    const reply = await request(`${server.url}/health`)
    expect(reply.status).toBe(200)
    const body = reply.json() as { status: string; components: Record<string, { status: string }> }
    // "degraded" is a healthy answer too (e.g. a monitor alert on a busy test machine): only a critical
    // component makes it unhealthy.
    expect(["healthy", "degraded"]).toContain(body.status)
    expect(body.components.store?.status).toBe("healthy")
    expect(Object.keys(body.components).sort()).toEqual(expect.arrayContaining(["ai", "cache", "store"]))
  })

  it("answers liveness and readiness", async () => {
    expect((await request(`${server.url}/health/live`)).json()).toEqual({ status: "ok" })
    expect((await request(`${server.url}/health/ready`)).json()).toEqual({ status: "ready" })
  })

  it("serves a valid OpenAPI 3.1 document that lists the health endpoints", async () => {
    const reply = await request(`${server.url}/openapi.json`)
    expect(reply.status).toBe(200)
    const spec = reply.json() as { openapi: string; paths: Record<string, unknown> }
    expect(spec.openapi).toMatch(/^3\.1\./)
    const result = await new Validator().validate(spec)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(["/health", "/health/live", "/health/ready"])
    )
    // Decode failures are promised as our envelope, not the platform's own shape.
    expect(reply.text).not.toContain("HttpApiDecodeError")
  })

  it("serves the docs UI as HTML", async () => {
    const reply = await request(`${server.url}/docs`)
    expect(reply.status).toBe(200)
    expect(reply.headers["content-type"]).toContain("text/html")
    expect(reply.text).toContain("<html")
  })

  it("answers an unknown route with 404 and the error envelope", async () => {
    const reply = await request(`${server.url}/no/such/route`)
    expect(reply.status).toBe(404)
    expect(envelopeOf(reply.text)).toMatchObject({ _tag: "NotFound", message: expect.any(String) })
  })

  it("puts a request id on every response, keeping the client's", async () => {
    const kept = await request(`${server.url}/health/live`, { headers: { "x-request-id": "client-id-42" } })
    expect(kept.headers["x-request-id"]).toBe("client-id-42")
    const fresh = await request(`${server.url}/no/such/route`)
    expect(fresh.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
    const unsafe = await request(`${server.url}/health/live`, {
      headers: { "x-request-id": "bad id\twith spaces" }
    })
    expect(unsafe.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/)
  })

  it("refuses a 2 MB body with 413 and the envelope", async () => {
    const reply = await rawUpload(`${server.url}/health`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Buffer.alloc(2 * 1024 * 1024, "a")
    })
    expect(reply.status).toBe(413)
    expect(envelopeOf(reply.text)._tag).toBe("PayloadTooLarge")
  })
})

describe("body parsing and validation (real server stack with test endpoints)", () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await startServer({ MAX_BODY_BYTES: "4096" }, { entry: "test/support/testServer.ts" })
  })
  afterAll(async () => {
    await server.stop()
  })
  const echo = (body: string, headers: Record<string, string> = {}) =>
    request(`${server.url}/test/echo`, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body
    })

  it("accepts a valid body", async () => {
    const reply = await echo(JSON.stringify({ name: "x", count: 2 }))
    expect(reply.status).toBe(200)
    expect(reply.json()).toEqual({ name: "x", count: 2 })
  })

  it("answers malformed JSON with 400 and the envelope", async () => {
    const reply = await echo("{not json")
    expect(reply.status).toBe(400)
    expect(envelopeOf(reply.text)._tag).toBe("MalformedRequest")
  })

  it("answers a schema mismatch with 400 naming the offending fields", async () => {
    const reply = await echo(JSON.stringify({ name: "", count: 1.5 }))
    expect(reply.status).toBe(400)
    const error = envelopeOf(reply.text) as {
      _tag: string
      details: { issues: Array<{ path: Array<string> }> }
    }
    expect(error._tag).toBe("ValidationError")
    const paths = error.details.issues.map((issue) => issue.path.join("."))
    expect(paths).toEqual(expect.arrayContaining(["name", "count"]))
  })

  it("refuses a body declared beyond the limit with 413", async () => {
    const reply = await rawUpload(`${server.url}/test/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ name: "x".repeat(2 * 1024 * 1024), count: 1 }))
    })
    expect(reply.status).toBe(413)
    expect(envelopeOf(reply.text)._tag).toBe("PayloadTooLarge")
  })

  it("cuts off a chunked body beyond the limit without reaching the handler, and stays up", async () => {
    // Without a declared length the platform's reader stops at the limit and destroys the socket, so the
    // client sees the connection cut rather than a 413 (nginx answers 413 for these in production).
    const big = JSON.stringify({ name: "x".repeat(10_000), count: 1 })
    const outcome = await echo(big, { "transfer-encoding": "chunked" }).then(
      (reply) => reply.status,
      () => "cut"
    )
    expect([413, "cut"]).toContain(outcome)
    expect((await request(`${server.url}/health/live`)).status).toBe(200)
  })
})

describe("configuration", () => {
  it("exits non-zero with one line naming PORT when PORT is invalid", async () => {
    const run = runEntry("src/main.ts", { PORT: "abc", DATA_DIR: tempDataDir() })
    expect(await run.exited).not.toBe(0)
    const lines = run.output().trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toContain("PORT")
  })

  it("requires JWT_SECRET in production mode", async () => {
    const env: Record<string, string> = { FF_MODE: "production", PORT: "0", DATA_DIR: tempDataDir() }
    const run = runEntry("src/main.ts", env)
    expect(await run.exited).not.toBe(0)
    expect(run.output()).toContain("JWT_SECRET")
  })

  it("generates the embedded JWT secret once and keeps it under DATA_DIR", async () => {
    const dataDir = tempDataDir()
    const first = await startServer({ DATA_DIR: dataDir })
    await first.stop()
    const secret = readFileSync(join(dataDir, "jwt-secret"), "utf8")
    expect(secret.length).toBeGreaterThanOrEqual(32)
    const second = await startServer({ DATA_DIR: dataDir })
    await second.stop()
    expect(readFileSync(join(dataDir, "jwt-secret"), "utf8")).toBe(secret)
  })
})

const connectionRefused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ port, host: "127.0.0.1" })
    socket.on("connect", () => {
      socket.destroy()
      resolve(false)
    })
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"))
  })

const waitFor = async (condition: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await condition()) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

describe("graceful shutdown", () => {
  it("finishes the in-flight request, refuses new connections, releases layers and exits 0", async () => {
    const server = await startServer({ SHUTDOWN_DRAIN_MS: "10000" }, { entry: "test/support/testServer.ts" })
    const inFlight = request(`${server.url}/test/slow?ms=1500`)
    await new Promise((resolve) => setTimeout(resolve, 300))
    server.child.kill("SIGTERM")
    expect(await waitFor(() => connectionRefused(server.port), 1000)).toBe(true)
    const reply = await inFlight
    expect(reply.status).toBe(200)
    expect(reply.json()).toEqual({ slept_ms: 1500 })
    expect(await server.exited).toBe(0)
    const released = server
      .output()
      .split("\n")
      .filter((line) => line.includes('"released"'))
    expect(released.length).toBeGreaterThanOrEqual(1)
  })

  it("answers a request that arrives on a kept-alive connection during the drain, with Connection: close", async () => {
    // The drain deadline is far beyond the test's patience: only answering the late request lets the
    // connection, and so the drain, end.
    const server = await startServer({ SHUTDOWN_DRAIN_MS: "60000" }, { entry: "test/support/testServer.ts" })
    const socket = Net.connect({ port: server.port, host: "127.0.0.1" })
    let received = ""
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8")
    })
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()))
    socket.on("error", () => {})
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1:${server.port}\r\n\r\n`
    socket.write(get("/test/slow?ms=1500"))
    await new Promise((resolve) => setTimeout(resolve, 300))
    server.child.kill("SIGTERM")
    // The listener is closed: the drain has begun. The connection is busy, so it is still open.
    expect(await waitFor(() => connectionRefused(server.port), 1000)).toBe(true)
    socket.write(get("/test/items/late"))
    await closed
    const responses = received.split(/(?=HTTP\/1\.1 )/)
    expect(responses).toHaveLength(2)
    expect(responses[0]).toMatch(/^HTTP\/1\.1 200/)
    expect(responses[0]).toContain('{"slept_ms":1500}')
    expect(responses[1]).toMatch(/^HTTP\/1\.1 200/)
    expect(responses[1]?.toLowerCase()).toContain("connection: close")
    expect(responses[1]).toContain('{"item_id":"late"}')
    expect(await server.exited).toBe(0)
  })

  it("cuts requests still running at the drain deadline and still exits 0", async () => {
    const server = await startServer({ SHUTDOWN_DRAIN_MS: "500" }, { entry: "test/support/testServer.ts" })
    const inFlight = request(`${server.url}/test/slow?ms=20000`).then(
      () => "answered",
      () => "cut"
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    const started = Date.now()
    server.child.kill("SIGTERM")
    expect(await server.exited).toBe(0)
    expect(await inFlight).toBe("cut")
    expect(Date.now() - started).toBeLessThan(15_000)
  })

  it("exits at once on a second signal during the drain", async () => {
    const server = await startServer({ SHUTDOWN_DRAIN_MS: "60000" }, { entry: "test/support/testServer.ts" })
    const inFlight = request(`${server.url}/test/slow?ms=60000`).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 300))
    server.child.kill("SIGTERM")
    expect(await waitFor(() => connectionRefused(server.port), 1000)).toBe(true)
    server.child.kill("SIGTERM")
    expect(await server.exited).toBe(130)
    await inFlight
  })
})

describe("the worker process", () => {
  it("starts, and on SIGTERM releases its layers and exits 0", async () => {
    const worker = runEntry("src/worker.ts", { DATA_DIR: tempDataDir() })
    const started = await waitFor(async () => worker.output().includes("worker started"), 30_000)
    expect(started).toBe(true)
    worker.child.kill("SIGTERM")
    expect(await worker.exited).toBe(0)
    expect(worker.output()).toContain("worker stopping")
  })
})
