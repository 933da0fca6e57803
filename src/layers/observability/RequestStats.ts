import * as Prom from "prom-client"

/**
 * Per-endpoint request statistics, updated on every request: a Prometheus histogram of durations by
 * method, route template and status class (exported through prom-client at scrape time), and a sliding
 * window of fine-grained latency histograms for `/metrics/performance`.
 *
 * Recording a request touches a few typed-array cells and allocates nothing once the endpoint has been
 * seen; memory is bounded by routes × methods, since routes are templates and unknown methods share one
 * label. Percentiles come from the histograms (no per-request samples are kept, nothing is sorted).
 */

/** Prometheus buckets, in seconds. */
export const DURATION_BUCKETS_SECONDS: ReadonlyArray<number> = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
]

/**
 * The window's buckets grow geometrically by 10% from 0.1 ms, so a percentile read from them is within
 * 10% of the true value; the last bucket is open-ended (about 2 minutes and above).
 */
const WINDOW_MIN_MS = 0.1
const WINDOW_GROWTH = 1.1
const WINDOW_BUCKETS = 150
const LOG_GROWTH = Math.log(WINDOW_GROWTH)
const SLOT_MS = 60_000

export const windowBucketUpperMs = (index: number): number => WINDOW_MIN_MS * WINDOW_GROWTH ** index

const windowBucketOf = (ms: number): number => {
  if (!(ms > WINDOW_MIN_MS)) return 0
  const index = Math.ceil(Math.log(ms / WINDOW_MIN_MS) / LOG_GROWTH - 1e-9)
  return index < WINDOW_BUCKETS ? index : WINDOW_BUCKETS - 1
}

const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const
const statusClassIndex = (status: number): number => {
  const index = Math.floor(status / 100) - 1
  return Math.min(Math.max(index, 0), 4)
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
/** Unknown verbs share one label so a client cannot create series at will. */
export const normalizeMethod = (method: string): string => (KNOWN_METHODS.has(method) ? method : "OTHER")

/** Requests no route matched share this label instead of their raw path. */
export const UNMATCHED_ROUTE = "unmatched"

interface Slot {
  minute: number
  count: number
  serverErrors: number
  clientErrors: number
  sumMs: number
  readonly buckets: Uint32Array
}

interface ClassTotals {
  /** Non-cumulative counts per Prometheus bucket; the last cell is +Inf. */
  readonly buckets: Float64Array
  sumSeconds: number
  count: number
}

class Series {
  readonly classes: Array<ClassTotals | undefined> = [undefined, undefined, undefined, undefined, undefined]
  readonly slots: Array<Slot>
  constructor(
    readonly method: string,
    readonly route: string,
    slotCount: number
  ) {
    this.slots = Array.from({ length: slotCount }, () => ({
      minute: -1,
      count: 0,
      serverErrors: 0,
      clientErrors: 0,
      sumMs: 0,
      buckets: new Uint32Array(WINDOW_BUCKETS)
    }))
  }
}

export interface EndpointStats {
  readonly method: string
  readonly route: string
  readonly count: number
  readonly requests_per_second: number
  /** Share of responses with a 5xx status. */
  readonly error_rate: number
  /** Share of responses with a 4xx status. */
  readonly client_error_rate: number
  readonly mean_ms: number
  readonly p50_ms: number
  readonly p95_ms: number
  readonly p99_ms: number
}

/** The value below which `quantile` of the counted observations fall, interpolated inside its bucket. */
export const quantileOf = (buckets: Uint32Array, total: number, quantile: number): number => {
  if (total === 0) return 0
  const rank = Math.max(1, Math.ceil(quantile * total))
  let seen = 0
  for (let index = 0; index < buckets.length; index++) {
    const inBucket = buckets[index] ?? 0
    if (inBucket === 0) continue
    if (seen + inBucket >= rank) {
      const upper = windowBucketUpperMs(index)
      const lower = index === 0 ? 0 : windowBucketUpperMs(index - 1)
      return lower + ((upper - lower) * (rank - seen)) / inBucket
    }
    seen += inBucket
  }
  return windowBucketUpperMs(buckets.length - 1)
}

const round = (value: number, digits: number) => {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

export class RequestStats {
  private readonly byRoute = new Map<string, Map<string, Series>>()
  private readonly slotCount: number
  readonly histogram: Prom.Histogram<"method" | "route" | "status_class">
  readonly requests: Prom.Counter<"method" | "route" | "status_class">

  constructor(
    readonly windowMinutes: number,
    registry: Prom.Registry
  ) {
    // One slot more than the window: the current minute is only partly elapsed.
    this.slotCount = windowMinutes + 1
    const stats = this
    this.histogram = new ExportedHistogram(stats, registry)
    this.requests = new Prom.Counter({
      name: "http_server_requests_total",
      help: "HTTP requests answered, by method, route template and status class",
      labelNames: ["method", "route", "status_class"] as const,
      registers: [registry],
      collect() {
        this.reset()
        for (const series of stats.allSeries()) {
          series.classes.forEach((totals, index) => {
            if (totals === undefined) return
            this.inc(
              { method: series.method, route: series.route, status_class: STATUS_CLASSES[index] ?? "5xx" },
              totals.count
            )
          })
        }
      }
    })
  }

  *allSeries(): Generator<Series> {
    for (const byMethod of this.byRoute.values()) yield* byMethod.values()
  }

  private seriesOf(method: string, route: string): Series {
    let byMethod = this.byRoute.get(route)
    if (byMethod === undefined) {
      byMethod = new Map()
      this.byRoute.set(route, byMethod)
    }
    let series = byMethod.get(method)
    if (series === undefined) {
      series = new Series(method, route, this.slotCount)
      byMethod.set(method, series)
    }
    return series
  }

  /** Records one answered request; `atMs` is the epoch time it was answered. */
  record(method: string, route: string, status: number, durationMs: number, atMs: number): void {
    const series = this.seriesOf(normalizeMethod(method), route)
    const classIndex = statusClassIndex(status)
    let totals = series.classes[classIndex]
    if (totals === undefined) {
      totals = { buckets: new Float64Array(DURATION_BUCKETS_SECONDS.length + 1), sumSeconds: 0, count: 0 }
      series.classes[classIndex] = totals
    }
    const seconds = durationMs / 1000
    let bucket = 0
    while (bucket < DURATION_BUCKETS_SECONDS.length && seconds > (DURATION_BUCKETS_SECONDS[bucket] ?? 0)) {
      bucket++
    }
    totals.buckets[bucket] = (totals.buckets[bucket] ?? 0) + 1
    totals.sumSeconds += seconds
    totals.count++

    const minute = Math.floor(atMs / SLOT_MS)
    const slot = series.slots[minute % this.slotCount]!
    if (slot.minute !== minute) {
      slot.minute = minute
      slot.count = 0
      slot.serverErrors = 0
      slot.clientErrors = 0
      slot.sumMs = 0
      slot.buckets.fill(0)
    }
    slot.count++
    slot.sumMs += durationMs
    if (classIndex === 4) slot.serverErrors++
    else if (classIndex === 3) slot.clientErrors++
    const windowBucket = windowBucketOf(durationMs)
    slot.buckets[windowBucket] = (slot.buckets[windowBucket] ?? 0) + 1
  }

  /** Statistics of every endpoint that answered within the window ending at `nowMs`. */
  window(nowMs: number): ReadonlyArray<EndpointStats> {
    const currentMinute = Math.floor(nowMs / SLOT_MS)
    const oldestMinute = currentMinute - this.windowMinutes
    // The window spans the full minutes plus the elapsed part of the current one.
    const spanSeconds = this.windowMinutes * 60 + (nowMs - currentMinute * SLOT_MS) / 1000
    const merged = new Uint32Array(WINDOW_BUCKETS)
    const result: Array<EndpointStats> = []
    for (const series of this.allSeries()) {
      merged.fill(0)
      let count = 0
      let serverErrors = 0
      let clientErrors = 0
      let sumMs = 0
      for (const slot of series.slots) {
        if (slot.minute <= oldestMinute || slot.minute > currentMinute || slot.count === 0) continue
        count += slot.count
        serverErrors += slot.serverErrors
        clientErrors += slot.clientErrors
        sumMs += slot.sumMs
        for (let index = 0; index < WINDOW_BUCKETS; index++) {
          merged[index] = (merged[index] ?? 0) + (slot.buckets[index] ?? 0)
        }
      }
      if (count === 0) continue
      result.push({
        method: series.method,
        route: series.route,
        count,
        requests_per_second: round(count / spanSeconds, 3),
        error_rate: round(serverErrors / count, 4),
        client_error_rate: round(clientErrors / count, 4),
        mean_ms: round(sumMs / count, 3),
        p50_ms: round(quantileOf(merged, count, 0.5), 3),
        p95_ms: round(quantileOf(merged, count, 0.95), 3),
        p99_ms: round(quantileOf(merged, count, 0.99), 3)
      })
    }
    return result.sort((a, b) => a.route.localeCompare(b.route) || a.method.localeCompare(b.method))
  }
}

/**
 * prom-client's own histogram hashes its label set on every observation; this one keeps its counts in
 * `RequestStats` and only builds the exposition when Prometheus scrapes.
 */
type Exposition = Awaited<ReturnType<Prom.Histogram<"method" | "route" | "status_class" | "le">["get"]>>

/**
 * prom-client declares `MetricType` as an enum but exports no runtime value for it, so the value is
 * taken from an unregistered histogram of its own.
 */
let typeProbe: Promise<Exposition["type"]> | undefined
const histogramType = () => {
  typeProbe ??= new Prom.Histogram({ name: "type_probe", help: "type probe", registers: [] })
    .get()
    .then((metric) => metric.type)
  return typeProbe
}

const DURATION_NAME = "http_server_request_duration_seconds"
const DURATION_HELP =
  "Time from receiving a request to writing its response, by method, route template and status class"

class ExportedHistogram extends Prom.Histogram<"method" | "route" | "status_class"> {
  constructor(
    private readonly stats: RequestStats,
    registry: Prom.Registry
  ) {
    super({
      name: DURATION_NAME,
      help: DURATION_HELP,
      labelNames: ["method", "route", "status_class"] as const,
      buckets: [...DURATION_BUCKETS_SECONDS],
      registers: [registry]
    })
  }

  /** The registry prefers this over `get()` when present. */
  getForPromString(): Promise<Exposition> {
    return this.get()
  }

  override async get(): Promise<Exposition> {
    return this.exposition(await histogramType())
  }

  private exposition(type: Exposition["type"]): Exposition {
    const values: Exposition["values"] = []
    for (const series of this.stats.allSeries()) {
      series.classes.forEach((totals, index) => {
        if (totals === undefined) return
        const labels = {
          method: series.method,
          route: series.route,
          status_class: STATUS_CLASSES[index] ?? "5xx"
        }
        let cumulative = 0
        DURATION_BUCKETS_SECONDS.forEach((bound, bucket) => {
          cumulative += totals.buckets[bucket] ?? 0
          values.push({
            labels: { ...labels, le: bound },
            value: cumulative,
            metricName: `${DURATION_NAME}_bucket`
          })
        })
        cumulative += totals.buckets[DURATION_BUCKETS_SECONDS.length] ?? 0
        values.push({
          labels: { ...labels, le: "+Inf" },
          value: cumulative,
          metricName: `${DURATION_NAME}_bucket`
        })
        values.push({ labels, value: totals.sumSeconds, metricName: `${DURATION_NAME}_sum` })
        values.push({ labels, value: totals.count, metricName: `${DURATION_NAME}_count` })
      })
    }
    return {
      name: DURATION_NAME,
      help: DURATION_HELP,
      type,
      values,
      aggregator: "sum",
      collect: () => undefined
    }
  }
}
