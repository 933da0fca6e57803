import { hostname } from "node:os"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { serverSpanName } from "../src/layers/observability/TelemetryExport.ts"
import { request } from "./support/http.ts"
import { type OtlpReceiver, startOtlpReceiver } from "./support/otlpReceiver.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

const SPAN_KIND_SERVER = 2
const STATUS_UNSET = 0
const STATUS_ERROR = 2

/**
 * Server spans as the stable HTTP semantic conventions describe them, checked on what a real OTLP
 * collector (a loopback one) receives from the real server: names Jaeger and Tempo can group by, the
 * attributes they read, status left unset on 4xx, and an instance id matching `x-instance-id`.
 */
describe("HTTP server spans follow the semantic conventions", () => {
  let receiver: OtlpReceiver
  let server: ServerProcess
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    // INSTANCE_ID is left unset: its default is what the last test checks.
    server = await startServer(
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_TRACES_SAMPLER_ARG: "1" },
      { entry: "test/support/testServer.ts" }
    )
  })
  afterAll(async () => {
    await server?.stop()
    await receiver?.close()
  })

  /** The request's server span, as the collector received it (each test asks for a path of its own). */
  const spanFor = async (path: string, options: { method?: string; body?: string } = {}) => {
    const before = new Set(receiver.spans().map((span) => span.spanId))
    const reply = await request(`${server.url}${path}`, {
      ...options,
      headers: { "user-agent": "conventions-test/1", "content-type": "application/json" }
    })
    const span = await receiver.waitFor(
      (span) =>
        span.kind === SPAN_KIND_SERVER && !before.has(span.spanId) && span.attributes["url.path"] === path
    )
    return { reply, span }
  }

  it("names a matched request `METHOD route-template` with the stable HTTP attributes", async () => {
    const { reply, span } = await spanFor("/test/items/abc")
    expect(reply.status).toBe(200)
    expect(span.name).toBe("GET /test/items/:item_id")
    expect(span.statusCode).toBe(STATUS_UNSET)
    expect(span.attributes).toMatchObject({
      "http.request.method": "GET",
      "http.route": "/test/items/:item_id",
      "http.response.status_code": 200,
      "url.path": "/test/items/abc",
      "url.scheme": "http",
      "server.address": "127.0.0.1",
      "server.port": server.port,
      "network.protocol.version": "1.1",
      "user_agent.original": "conventions-test/1",
      "client.address": expect.stringMatching(/127\.0\.0\.1$/)
    })
  })

  it("names an unmatched request by its method alone, and leaves the status of a 4xx unset", async () => {
    const { reply, span } = await spanFor("/no/such/route")
    expect(reply.status).toBe(404)
    expect(span.name).toBe("GET")
    expect(span.attributes["http.route"]).toBeUndefined()
    expect(span.attributes["http.response.status_code"]).toBe(404)
    expect(span.statusCode).toBe(STATUS_UNSET)
  })

  it("leaves a validation failure (400) unset and marks a 5xx as an error", async () => {
    const invalid = await spanFor("/test/echo", { method: "POST", body: JSON.stringify({ name: "" }) })
    expect(invalid.reply.status).toBe(400)
    expect(invalid.span.name).toBe("POST /test/echo")
    expect(invalid.span.statusCode).toBe(STATUS_UNSET)

    const failed = await spanFor("/test/boom")
    expect(failed.reply.status).toBe(500)
    expect(failed.span.name).toBe("GET /test/boom")
    expect(failed.span.statusCode).toBe(STATUS_ERROR)
  })

  it("names the instance `<hostname>-<pid>` by default, in the resource and in `x-instance-id`", async () => {
    const { reply, span } = await spanFor("/test/items/instance")
    const expected = `${hostname()}-${server.child.pid}`
    expect(reply.headers["x-instance-id"]).toBe(expected)
    expect(span.resource["service.instance.id"]).toBe(expected)
  })
})

describe("serverSpanName", () => {
  it("is the method and the route template, the method alone without a route, HTTP for an unknown method", () => {
    expect(serverSpanName("GET", "/api/v1/tasks/:task_id")).toBe("GET /api/v1/tasks/:task_id")
    expect(serverSpanName("DELETE", undefined)).toBe("DELETE")
    expect(serverSpanName("BREW", "/coffee")).toBe("HTTP /coffee")
    expect(serverSpanName(undefined, undefined)).toBe("HTTP")
  })
})
