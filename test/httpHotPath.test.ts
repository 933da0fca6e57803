/**
 * The per-request hot path after its optimisation keeps its behaviour: the request id still reaches the
 * logs (now through the logger, not `Effect.annotateLogs`), trace sampling is decided at the edge with
 * parent-based ratio semantics, and a request the edge does not sample leaves no orphan spans behind.
 */
import { it as effectIt } from "@effect/vitest"
import { Effect, Fiber as FiberModule } from "effect"
import { HttpServerRequest } from "effect/http"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { sampledAtEdge } from "../src/http/observe.ts"
import { currentRequestLog, LoggingLive } from "../src/layers/observability/Logging.ts"
import { type OtlpReceiver, startOtlpReceiver } from "./support/otlpReceiver.ts"
import { request } from "./support/http.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

const hex = (bytes: number) =>
  Array.from({ length: bytes }, () =>
    Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, "0")
  ).join("")

const requestWith = (headers: Record<string, string> = {}) =>
  HttpServerRequest.fromWeb(new Request("http://127.0.0.1/test/traced", { headers }))

describe("request id in logs", () => {
  // `it.live`: @effect/vitest 4's `it.effect` swaps the console for a TestConsole, and this test watches the
  // lines LoggingLive writes to the real `console.log` (as the server does).
  effectIt.live("is added by the logger for the request's fiber and the fibers it forks", () =>
    Effect.gen(function* () {
      const lines: Array<string> = []
      const spy = vi.spyOn(globalThis.console, "log").mockImplementation((line: unknown) => {
        lines.push(String(line))
      })
      yield* Effect.gen(function* () {
        yield* Effect.log("outside")
        yield* Effect.gen(function* () {
          yield* Effect.log("inside")
          const child = yield* Effect.forkChild(Effect.log("child"))
          yield* FiberModule.join(child)
        }).pipe(Effect.provideService(currentRequestLog, { requestId: "req-42" }))
      }).pipe(Effect.provide(LoggingLive), Effect.ensuring(Effect.sync(() => spy.mockRestore())))
      const parsed = lines.map(
        (line) => JSON.parse(line) as { message: string; annotations: Record<string, string> }
      )
      const byMessage = (message: string) => parsed.find((line) => line.message === message)
      expect(byMessage("outside")?.annotations.request_id).toBeUndefined()
      expect(byMessage("inside")?.annotations.request_id).toBe("req-42")
      expect(byMessage("child")?.annotations.request_id).toBe("req-42")
    })
  )
  effectIt.effect("costs no FiberRef write when nothing is logged", () =>
    Effect.gen(function* () {
      // A Context.Reference: an effect nobody provided a request to sees its default, with no write at all.
      expect(yield* currentRequestLog).toBeUndefined()
    })
  )
})

describe("edge sampling", () => {
  it("follows the caller's traceparent flag whatever the ratio", () => {
    const sampled = requestWith({ traceparent: `00-${hex(16)}-${hex(8)}-01` })
    const unsampled = requestWith({ traceparent: `00-${hex(16)}-${hex(8)}-00` })
    expect(sampledAtEdge(0)(sampled)).toBe(true)
    expect(sampledAtEdge(1)(unsampled)).toBe(false)
  })
  it("samples new traces at the ratio", () => {
    const fresh = requestWith()
    expect(sampledAtEdge(1)(fresh)).toBe(true)
    expect(sampledAtEdge(0)(fresh)).toBe(false)
    const kept = Array.from({ length: 4_000 }, () => sampledAtEdge(0.25)(fresh)).filter(Boolean).length
    // Binomial(4000, 0.25): mean 1000, sd ≈ 27; the bounds are ±7 sd.
    expect(kept).toBeGreaterThan(810)
    expect(kept).toBeLessThan(1_190)
  })
})

describe("traces from the real server at ratio 0.5", () => {
  let receiver: OtlpReceiver
  let server: ServerProcess
  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    server = await startServer(
      { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_TRACES_SAMPLER_ARG: "0.5" },
      { entry: "test/support/testServer.ts" }
    )
  })
  afterAll(async () => {
    await server?.stop()
    await receiver?.close()
  })

  it("records about half of the new traces, each whole: no handler span without its request span", async () => {
    const requests = 100
    const answered: Array<{ trace_id: string }> = []
    for (let i = 0; i < requests; i++) {
      const reply = await request(`${server.url}/test/traced`)
      expect(reply.status).toBe(200)
      answered.push(reply.json() as { trace_id: string })
    }
    // The batch processor exports every second; wait for the last sampled request's spans to settle.
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    const spans = receiver.spans()
    const serverSpans = spans.filter((span) => span.kind === 2)
    const inner = spans.filter((span) => span.name === "test.inner")
    // Sampled once at the edge (≈ 50), not again by the provider's ratio sampler (≈ 25).
    expect(serverSpans.length).toBeGreaterThan(32)
    expect(serverSpans.length).toBeLessThan(68)
    expect(inner.length).toBe(serverSpans.length)
    const serverIds = new Set(serverSpans.map((span) => span.spanId))
    for (const span of inner) expect(serverIds.has(span.parentSpanId ?? "")).toBe(true)
    // A request that was not traced ran with the tracer off: its handler's span is a no-op.
    const traced = new Set(serverSpans.map((span) => span.traceId))
    const untraced = answered.filter((answer) => !traced.has(answer.trace_id))
    expect(untraced.length).toBe(requests - serverSpans.length)
    for (const answer of untraced) expect(answer.trace_id).toBe("noop")
  }, 60_000)
})
