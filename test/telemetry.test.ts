import { NodeHttpClient } from "@effect/platform-node"
import { it as effectIt } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import { HttpClient } from "effect/http"
import { randomBytes } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AppConfigTest, makeTestConfig } from "../src/layers/config/AppConfig.ts"
import { TelemetryLive } from "../src/layers/observability/Telemetry.ts"
import { call, registerUser } from "./support/api.ts"
import { type FakeProvider, startFakeProvider } from "./support/fakeProvider.ts"
import { type OtlpReceiver, startOtlpReceiver } from "./support/otlpReceiver.ts"
import { request } from "./support/http.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

const hex = (bytes: number) => randomBytes(bytes).toString("hex")
const traceparent = (traceId: string, spanId: string, sampled = true) =>
  `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`

const SPAN_KIND_SERVER = 2

describe("traces over OTLP/HTTP from the real server", () => {
  let receiver: OtlpReceiver
  let server: ServerProcess
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    // Ratio 0: only requests whose caller sampled them are traced, which the parent-based sampler honours.
    server = await startServer(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_TRACES_SAMPLER_ARG: "0",
        OTEL_SERVICE_NAME: "ff-otel-test"
      },
      { entry: "test/support/testServer.ts" }
    )
  })
  afterAll(async () => {
    await server?.stop()
    await receiver?.close()
  })

  it("continues the incoming traceparent, nests handler spans under the request span, skips probes", async () => {
    const probeTrace = hex(16)
    await request(`${server.url}/health/live`, { headers: { traceparent: traceparent(probeTrace, hex(8)) } })
    await request(`${server.url}/metrics`, { headers: { traceparent: traceparent(probeTrace, hex(8)) } })
    const unsampledTrace = hex(16)
    await request(`${server.url}/test/traced`, {
      headers: { traceparent: traceparent(unsampledTrace, hex(8), false) }
    })

    const traceId = hex(16)
    const callerSpan = hex(8)
    const reply = await request(`${server.url}/test/traced`, {
      headers: { traceparent: traceparent(traceId, callerSpan) }
    })
    expect(reply.status).toBe(200)
    expect((reply.json() as { trace_id: string }).trace_id).toBe(traceId)

    const serverSpan = await receiver.waitFor(
      (span) => span.traceId === traceId && span.kind === SPAN_KIND_SERVER
    )
    expect(serverSpan.parentSpanId).toBe(callerSpan)
    expect(serverSpan.attributes["http.route"]).toBe("/test/traced")
    expect(serverSpan.attributes["http.response.status_code"]).toBe(200)
    expect(serverSpan.resource["service.name"]).toBe("ff-otel-test")
    expect(serverSpan.resource["service.version"]).toEqual(expect.any(String))
    expect(serverSpan.resource["service.instance.id"]).toBe(reply.headers["x-instance-id"])

    const inner = await receiver.waitFor((span) => span.traceId === traceId && span.name === "test.inner")
    expect(inner.parentSpanId).toBe(serverSpan.spanId)

    // Probes and scrapes are never traced; a caller's "not sampled" decision is kept.
    expect(receiver.spans().filter((span) => span.traceId === probeTrace)).toEqual([])
    expect(receiver.spans().filter((span) => span.traceId === unsampledTrace)).toEqual([])
  })

  it("samples no new root trace at ratio 0", async () => {
    await request(`${server.url}/test/items/root-request`)
    const marker = hex(16)
    await request(`${server.url}/test/traced`, { headers: { traceparent: traceparent(marker, hex(8)) } })
    await receiver.waitFor((span) => span.traceId === marker && span.kind === SPAN_KIND_SERVER)
    expect(receiver.spans().some((span) => span.attributes["http.route"] === "/test/items/:item_id")).toBe(
      false
    )
  })
})

describe("outgoing HTTP calls carry the trace", () => {
  let receiver: OtlpReceiver
  let echo: Http.Server
  let echoUrl = ""
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    echo = Http.createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(req.headers))
    })
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve))
    echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    echo.closeAllConnections()
    await new Promise((resolve) => echo.close(resolve))
    await receiver.close()
  })

  effectIt.live("the platform HttpClient sends traceparent of the calling span under the OTel tracer", () =>
    Effect.gen(function* () {
      const client = yield* HttpClient.HttpClient
      const { headers, span } = yield* Effect.gen(function* () {
        const span = yield* Effect.currentSpan
        const response = yield* client.get(echoUrl)
        const headers = (yield* response.json) as Record<string, string>
        return { headers, span }
      }).pipe(Effect.withSpan("caller"))
      const [, traceId, parentId] = headers.traceparent?.split("-") ?? []
      expect(traceId).toBe(span.traceId)
      // The client span sits between the caller and the remote server.
      expect(parentId).not.toBe(span.spanId)
      const clientSpan = yield* Effect.promise(() =>
        receiver.waitFor((received) => received.spanId === parentId)
      )
      expect(clientSpan.traceId).toBe(span.traceId)
    }).pipe(
      Effect.provide(
        Layer.mergeAll(
          TelemetryLive.pipe(
            Layer.provide(
              AppConfigTest({
                otel: { ...makeTestConfig().otel, endpoint: Option.some(receiver.endpoint) }
              })
            )
          ),
          NodeHttpClient.layerUndici
        )
      )
    )
  )
})

describe("one trace across HTTP, actor, store, chain and provider", () => {
  let receiver: OtlpReceiver
  let fake: FakeProvider
  let server: ServerProcess
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    fake = await startFakeProvider()
    server = await startServer({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      AI_PROVIDER: "openai",
      AI_BASE_URL: fake.baseUrl,
      AI_API_KEY: "sk-test",
      AI_RATE_LIMIT: "10000",
      AI_RATE_BURST: "5000",
      CACHE_PREFIX: `trace-${Date.now()}:`
    })
  })
  afterAll(async () => {
    await server?.stop()
    await fake?.close()
    await receiver?.close()
  })

  it("create-enhanced is one trace from the caller's traceparent down to the provider call", async () => {
    const user = await registerUser(server.url, "Traced")
    const traceId = hex(16)
    const reply = await call(server.url, "POST", "/api/v1/orchestrator/tasks/create-enhanced", {
      token: user.token,
      body: { title: "Trace me", duration_minutes: 50 },
      headers: { traceparent: traceparent(traceId, hex(8)) }
    })
    expect(reply.status).toBe(200)
    expect(fake.calls()).toBeGreaterThan(0)

    const has = (predicate: (span: { name: string; kind: number }) => boolean) =>
      receiver.waitFor((span) => span.traceId === traceId && predicate(span))
    await has((span) => span.kind === SPAN_KIND_SERVER)
    await has((span) => span.name.startsWith("Actor.task."))
    await has((span) => span.name === "EventStore.append")
    await has((span) => span.name.startsWith("chain."))
    await has((span) => span.name === "LanguageModel.generateObject")
  })
})
