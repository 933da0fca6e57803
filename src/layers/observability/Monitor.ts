import { Clock, Context, Duration, Effect, Layer, Ref, Schema } from "effect"
import { Alert, ALERT_KINDS, conditions, transition } from "./Alerts.ts"
import { AppConfig } from "../config/AppConfig.ts"
import { Health } from "./Health.ts"
import { logReleased } from "./Logging.ts"
import { Metrics } from "./Metrics.ts"
import { SystemProbe, SystemSample } from "./SystemProbe.ts"

export const EndpointPerformance = Schema.Struct({
  method: Schema.String,
  route: Schema.String.annotate({ description: "The route template, e.g. /api/v1/tasks/{task_id}" }),
  count: Schema.Number,
  requests_per_second: Schema.Number,
  error_rate: Schema.Number.annotate({ description: "Share of 5xx responses" }),
  client_error_rate: Schema.Number.annotate({ description: "Share of 4xx responses" }),
  mean_ms: Schema.Number,
  p50_ms: Schema.Number,
  p95_ms: Schema.Number,
  p99_ms: Schema.Number
}).annotate({ identifier: "EndpointPerformance" })

export const PerformanceReport = Schema.Struct({
  generated_at: Schema.String,
  instance_id: Schema.String,
  uptime_seconds: Schema.Number,
  window_seconds: Schema.Number,
  endpoints: Schema.Array(EndpointPerformance),
  system: Schema.NullOr(SystemSample),
  sampled_at: Schema.NullOr(Schema.String),
  alerts: Schema.Array(Alert)
}).annotate({ identifier: "PerformanceReport" })
export type PerformanceReport = typeof PerformanceReport.Type

interface State {
  readonly system: SystemSample | null
  readonly sampledAt: string | null
  readonly alerts: ReadonlyArray<Alert>
}

/**
 * Samples the process and machine on a background fiber, evaluates the alert thresholds on each sample,
 * logs alerts as they fire and clear, exports them as a gauge and reports them in `/health` (a
 * non-critical "monitor" component, degraded while any alert is active) and `/metrics/performance`.
 */
export class Monitor extends Context.Service<Monitor>()("Monitor", {
  make: Effect.gen(function* () {
    const config = yield* AppConfig
    const metrics = yield* Metrics
    const health = yield* Health
    const probe = yield* SystemProbe
    const state = yield* Ref.make<State>({ system: null, sampledAt: null, alerts: [] })
    const { stats } = metrics.http
    const { system: gauges } = metrics

    // The first sample averages the process's CPU since it started: start-up work (loading modules,
    // opening the store) would read as load and fire a CPU alert at boot. Its CPU figure is shown, not judged.
    let firstSample = true

    /** One sample and one evaluation of every threshold. */
    const tick = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const sample = yield* probe.sample
      gauges.cpuPercent.set(sample.cpu.system_percent)
      gauges.processCpuPercent.set(sample.cpu.process_percent)
      gauges.memoryPercent.set(sample.memory.system_used_percent)
      if (sample.disk !== null) {
        gauges.diskPercent.set(sample.disk.used_percent)
        gauges.diskFreeBytes.set(sample.disk.free_bytes)
      }
      const current = conditions(config.monitor.alerts, {
        endpoints: stats.window(now),
        cpuPercent: firstSample ? undefined : sample.cpu.process_percent,
        memoryPercent: sample.memory.system_used_percent,
        diskPercent: sample.disk?.used_percent,
        eventLoopLagMs: sample.event_loop.lag_p99_ms,
        breakers: metrics.ai.breakerStates()
      })
      const at = new Date(now).toISOString()
      const previous = yield* Ref.get(state)
      const next = transition(previous.alerts, current, at)
      for (const alert of next.fired) {
        yield* Effect.logWarning("alert fired").pipe(
          Effect.annotateLogs({ alert: alert.kind, subject: alert.subject ?? "", message: alert.message })
        )
      }
      for (const alert of next.cleared) {
        yield* Effect.logInfo("alert cleared").pipe(
          Effect.annotateLogs({ alert: alert.kind, subject: alert.subject ?? "", since: alert.since })
        )
      }
      for (const kind of ALERT_KINDS) {
        gauges.alertsActive.set({ alert: kind }, next.active.filter((alert) => alert.kind === kind).length)
      }
      firstSample = false
      yield* Ref.set(state, { system: sample, sampledAt: at, alerts: next.active })
    }).pipe(Effect.catchCause((cause) => Effect.logWarning("monitor sample failed", cause)))

    const alerts = Effect.map(Ref.get(state), (current) => current.alerts)

    yield* health.register(
      "monitor",
      Effect.map(Ref.get(state), ({ alerts }) =>
        !config.monitor.enabled
          ? { status: "healthy" as const, details: { enabled: false } }
          : alerts.length === 0
            ? { status: "healthy" as const, details: { alerts: [] } }
            : {
                status: "degraded" as const,
                message: alerts.map((alert) => alert.message).join("; "),
                details: { alerts }
              }
      ),
      { critical: false }
    )

    if (config.monitor.enabled) {
      yield* tick
      yield* Effect.sleep(Duration.millis(config.monitor.intervalMs)).pipe(
        Effect.andThen(tick),
        Effect.forever,
        Effect.forkScoped
      )
    }
    yield* logReleased("monitor")

    const performance = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const current = yield* Ref.get(state)
      return {
        generated_at: new Date(now).toISOString(),
        instance_id: config.http.instanceId,
        uptime_seconds: Math.round(process.uptime()),
        window_seconds: stats.windowMinutes * 60,
        endpoints: stats.window(now),
        system: current.system,
        sampled_at: current.sampledAt,
        alerts: current.alerts
      } satisfies PerformanceReport
    })

    return {
      registry: metrics.registry,
      performance,
      alerts,
      /** Samples and evaluates now instead of waiting for the next interval. */
      tick
    } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
