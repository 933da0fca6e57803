import { Schema } from "effect"
import type { AlertThresholds } from "../config/AppConfig.ts"
import type { BreakerState } from "./Metrics.ts"
import type { EndpointStats } from "./RequestStats.ts"

/**
 * Threshold alerts, evaluated on each sample: an alert is active while its condition holds and clears on
 * the first sample where it does not. Pure, so the rules are tested on injected samples.
 */

export const AlertKind = Schema.Literals([
  "latency_p95",
  "error_rate",
  "cpu",
  "memory",
  "disk",
  "event_loop_lag",
  "breaker_open"
])
export type AlertKind = typeof AlertKind.Type
export const ALERT_KINDS: ReadonlyArray<AlertKind> = AlertKind.literals

export const Alert = Schema.Struct({
  kind: AlertKind,
  /** What the alert is about when there can be several of a kind: an endpoint or a breaker. */
  subject: Schema.optional(Schema.String),
  value: Schema.Number,
  threshold: Schema.Number,
  message: Schema.String,
  since: Schema.String
}).annotate({ identifier: "Alert" })
export type Alert = typeof Alert.Type

export interface AlertInputs {
  readonly endpoints: ReadonlyArray<EndpointStats>
  /**
   * The process's CPU use, 100 = one core: a single event loop cannot use more. Undefined when not yet
   * measured over an interval of serving (the first sample spans start-up, which is work, not load).
   */
  readonly cpuPercent: number | undefined
  readonly memoryPercent: number
  readonly diskPercent: number | undefined
  readonly eventLoopLagMs: number
  readonly breakers: ReadonlyMap<string, BreakerState>
}

export type Condition = Omit<Alert, "since">

export const alertId = (alert: Pick<Alert, "kind" | "subject">): string =>
  alert.subject === undefined ? alert.kind : `${alert.kind}:${alert.subject}`

const round = (value: number) => Math.round(value * 100) / 100

/** Every condition that currently crosses its threshold. */
export const conditions = (thresholds: AlertThresholds, inputs: AlertInputs): ReadonlyArray<Condition> => {
  const found: Array<Condition> = []
  for (const endpoint of inputs.endpoints) {
    if (endpoint.count < thresholds.minRequests) continue
    const subject = `${endpoint.method} ${endpoint.route}`
    if (endpoint.p95_ms > thresholds.p95LatencyMs) {
      found.push({
        kind: "latency_p95",
        subject,
        value: endpoint.p95_ms,
        threshold: thresholds.p95LatencyMs,
        message: `p95 latency of ${subject} is ${round(endpoint.p95_ms)} ms (threshold ${thresholds.p95LatencyMs} ms)`
      })
    }
    if (endpoint.error_rate > thresholds.errorRate) {
      found.push({
        kind: "error_rate",
        subject,
        value: endpoint.error_rate,
        threshold: thresholds.errorRate,
        message: `5xx rate of ${subject} is ${round(endpoint.error_rate * 100)}% (threshold ${round(thresholds.errorRate * 100)}%)`
      })
    }
  }
  const gauge = (
    kind: AlertKind,
    value: number | undefined,
    threshold: number,
    what: string,
    unit: string
  ) => {
    if (value !== undefined && value > threshold) {
      found.push({
        kind,
        value,
        threshold,
        message: `${what} is ${round(value)}${unit} (threshold ${threshold}${unit})`
      })
    }
  }
  gauge("cpu", inputs.cpuPercent, thresholds.cpuPercent, "process CPU use", "%")
  gauge("memory", inputs.memoryPercent, thresholds.memoryPercent, "memory use", "%")
  gauge("disk", inputs.diskPercent, thresholds.diskPercent, "disk use of DATA_DIR", "%")
  gauge("event_loop_lag", inputs.eventLoopLagMs, thresholds.eventLoopLagMs, "event-loop lag (p99)", " ms")
  for (const [breaker, state] of inputs.breakers) {
    if (state === "open") {
      found.push({
        kind: "breaker_open",
        subject: breaker,
        value: 1,
        threshold: 0,
        message: `circuit breaker ${breaker} is open: AI calls fall back to heuristics`
      })
    }
  }
  return found
}

export interface Transition {
  readonly active: ReadonlyArray<Alert>
  readonly fired: ReadonlyArray<Alert>
  readonly cleared: ReadonlyArray<Alert>
}

/** The next set of active alerts; an alert that stays active keeps its `since` and shows its latest value. */
export const transition = (
  previous: ReadonlyArray<Alert>,
  current: ReadonlyArray<Condition>,
  now: string
): Transition => {
  const before = new Map(previous.map((alert) => [alertId(alert), alert]))
  const active: Array<Alert> = []
  const fired: Array<Alert> = []
  for (const condition of current) {
    const id = alertId(condition)
    const existing = before.get(id)
    if (existing !== undefined) {
      active.push({ ...condition, since: existing.since })
      before.delete(id)
    } else {
      const alert = { ...condition, since: now }
      active.push(alert)
      fired.push(alert)
    }
  }
  return { active, fired, cleared: [...before.values()] }
}
