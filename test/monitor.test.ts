import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Layer, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import { AppConfigTest, makeTestConfig } from "../src/layers/config/AppConfig.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { Metrics } from "../src/layers/observability/Metrics.ts"
import { Monitor } from "../src/layers/observability/Monitor.ts"
import { quantileOf, RequestStats } from "../src/layers/observability/RequestStats.ts"
import { SystemProbe, type SystemSample } from "../src/layers/observability/SystemProbe.ts"
import * as Prom from "prom-client"

const calm: SystemSample = {
  cpu: { system_percent: 20, process_percent: 10, cores: 2 },
  memory: {
    rss_bytes: 1e8,
    heap_used_bytes: 5e7,
    heap_total_bytes: 6e7,
    system_total_bytes: 8e9,
    system_available_bytes: 6e9,
    system_used_percent: 25
  },
  disk: { path: "./data", total_bytes: 1e11, free_bytes: 5e10, used_percent: 50 },
  event_loop: { lag_p99_ms: 5, lag_mean_ms: 1, lag_max_ms: 8 }
}

/** The probe reads whatever the test last put here. */
let injected: SystemSample = calm
const logged: Array<string> = []

const config = makeTestConfig()
const TestLayer = Monitor.layer.pipe(
  Layer.provideMerge(Metrics.layer),
  Layer.provideMerge(Health.layer),
  Layer.provide(Layer.succeed(SystemProbe, { sample: Effect.sync(() => injected) })),
  Layer.provideMerge(
    AppConfigTest({
      monitor: {
        ...config.monitor,
        intervalMs: 1_000,
        alerts: { ...config.monitor.alerts, cpuPercent: 80, p95LatencyMs: 500, minRequests: 5 }
      }
    })
  ),
  Layer.provide(
    Logger.layer([
      Logger.make(({ message, fiber }) => {
        const text = Array.isArray(message) ? message.join(" ") : String(message)
        const alert = fiber.getRef(References.CurrentLogAnnotations).alert
        logged.push(`${text}:${String(alert)}`)
      })
    ])
  )
)

const gaugeValue = (registry: Prom.Registry, kind: string) =>
  Effect.promise(async () => {
    const metric = registry.getSingleMetric("focusforge_alerts_active")
    const data = await metric?.get()
    return data?.values.find((value) => value.labels.alert === kind)?.value
  })

describe("Monitor", () => {
  // Its own layer: the sample taken while the layer is built is the first one.
  it.layer(
    Layer.fresh(TestLayer).pipe(
      Layer.provideMerge(
        Layer.effectDiscard(
          Effect.sync(() => (injected = { ...calm, cpu: { ...calm.cpu, process_percent: 99 } }))
        )
      )
    )
  )("at start-up", (it) => {
    it.effect(
      "the first sample (CPU since the process started: start-up work) fires no CPU alert; the next one judges",
      () =>
        Effect.gen(function* () {
          const monitor = yield* Monitor
          expect(yield* monitor.alerts).toEqual([])
          yield* TestClock.adjust("1 second")
          expect((yield* monitor.alerts).map((alert) => alert.kind)).toEqual(["cpu"])
          injected = calm
          yield* TestClock.adjust("1 second")
          expect(yield* monitor.alerts).toEqual([])
        })
    )
  })

  it.layer(TestLayer)("alerts from injected samples under the TestClock", (it) => {
    it.effect("fires when a threshold is crossed and clears when it no longer is", () =>
      Effect.gen(function* () {
        const monitor = yield* Monitor
        const health = yield* Health
        const metrics = yield* Metrics
        expect(yield* monitor.alerts).toEqual([])

        injected = { ...calm, cpu: { ...calm.cpu, process_percent: 95 } }
        yield* TestClock.adjust("1 second")
        const fired = yield* monitor.alerts
        expect(fired.map((alert) => alert.kind)).toEqual(["cpu"])
        expect(fired[0]?.value).toBe(95)
        expect(yield* gaugeValue(metrics.registry, "cpu")).toBe(1)
        const degraded = yield* health.report
        expect(degraded.components.monitor?.status).toBe("degraded")
        expect(degraded.status).toBe("degraded")
        expect((yield* monitor.performance).alerts.map((alert) => alert.kind)).toEqual(["cpu"])
        expect(logged).toContain("alert fired:cpu")

        // Still above: the alert stays, with its original start.
        const since = fired[0]?.since
        yield* TestClock.adjust("1 second")
        expect((yield* monitor.alerts)[0]?.since).toBe(since)

        injected = calm
        yield* TestClock.adjust("1 second")
        expect(yield* monitor.alerts).toEqual([])
        expect(yield* gaugeValue(metrics.registry, "cpu")).toBe(0)
        expect((yield* health.report).components.monitor?.status).toBe("healthy")
        expect(logged).toContain("alert cleared:cpu")
      })
    )

    it.effect("raises breaker_open from the AI optimizer's hook and p95 latency from request stats", () =>
      Effect.gen(function* () {
        const monitor = yield* Monitor
        const metrics = yield* Metrics
        metrics.ai.setBreakerState("ai-provider", "open")
        const now = yield* Clock.currentTimeMillis
        for (let i = 0; i < 10; i++) metrics.http.stats.record("GET", "/api/v1/slow/:id", 200, 900, now)
        yield* TestClock.adjust("1 second")
        const active = yield* monitor.alerts
        expect(active.map((alert) => [alert.kind, alert.subject])).toEqual(
          expect.arrayContaining([
            ["breaker_open", "ai-provider"],
            ["latency_p95", "GET /api/v1/slow/:id"]
          ])
        )
        metrics.ai.setBreakerState("ai-provider", "closed")
        // The window slides past the slow minute.
        yield* TestClock.adjust("6 minutes")
        expect(yield* monitor.alerts).toEqual([])
      })
    )
  })
})

describe("RequestStats", () => {
  it("reads percentiles within the 10% bucket precision and forgets what left the window", () => {
    const stats = new RequestStats(5, new Prom.Registry())
    const at = 1_700_000_000_000
    const samples = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % 1000) / 3)
    for (const ms of samples) stats.record("GET", "/x/:id", 200, ms, at)
    const sorted = [...samples].sort((a, b) => a - b)
    const [endpoint] = stats.window(at)
    for (const [q, value] of [
      [0.5, endpoint?.p50_ms],
      [0.95, endpoint?.p95_ms],
      [0.99, endpoint?.p99_ms]
    ] as const) {
      const exact = sorted[Math.ceil(q * sorted.length) - 1] ?? 0
      expect(Math.abs((value ?? 0) - exact)).toBeLessThanOrEqual(exact * 0.1)
    }
    expect(endpoint?.count).toBe(1000)
    expect(stats.window(at + 6 * 60_000)).toEqual([])
  })

  it("keeps one series per route template and method, whatever the client sends", () => {
    const stats = new RequestStats(5, new Prom.Registry())
    for (let i = 0; i < 500; i++) stats.record(`WEIRD${i}`, "unmatched", 405, 1, 0)
    expect([...stats.allSeries()].map((series) => series.method)).toEqual(["OTHER"])
  })

  it("computes an empty histogram's quantile as 0", () => {
    expect(quantileOf(new Uint32Array(10), 0, 0.5)).toBe(0)
  })
})
