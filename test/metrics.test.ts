import parsePrometheus from "parse-prometheus-text-format"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { postJson, request } from "./support/http.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

type Families = ReturnType<typeof parsePrometheus>

const family = (families: Families, name: string) => {
  const found = families.find((candidate) => candidate.name === name)
  if (found === undefined)
    throw new Error(`metric ${name} missing; have ${families.map((f) => f.name).join(", ")}`)
  return found
}

/** Every sample under a name, across families (the untyped parse yields one family per series). */
const samplesOf = (families: Families, name: string) =>
  families.filter((candidate) => candidate.name === name).flatMap((candidate) => candidate.metrics)

const sampleWith = (families: Families, name: string, labels: Record<string, string>) =>
  samplesOf(families, name).find((sample) =>
    Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value)
  )

/**
 * The parser merges every label set of a histogram into one sample (it keeps only the `le` buckets), so
 * per-series values are read from a second parse in which histograms are untyped: each of `_bucket`,
 * `_sum` and `_count` of each series then comes back as a family of its own, with its labels.
 */
const asUntyped = (text: string) =>
  parsePrometheus(
    text
      .split("\n")
      .filter((line) => !(line.startsWith("# TYPE ") && line.endsWith(" histogram")))
      .join("\n")
  )

const scrape = async (url: string, headers: Record<string, string> = {}) => {
  const reply = await request(`${url}/metrics`, { headers })
  expect(reply.status).toBe(200)
  return { reply, families: parsePrometheus(reply.text), series: asUntyped(reply.text) }
}

/** Nearest-rank percentile, the definition the server's histogram interpolates towards. */
const percentile = (sorted: ReadonlyArray<number>, q: number) =>
  sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN

describe("/metrics and /metrics/performance on the real server", () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await startServer({}, { entry: "test/support/testServer.ts" })
  })
  afterAll(async () => {
    await server.stop()
  })

  it("counts a scripted run per route template, status class and error tag, in valid exposition", async () => {
    for (let i = 0; i < 3; i++) await request(`${server.url}/health/live`)
    for (const id of ["a", "b", "c-123"]) {
      expect((await request(`${server.url}/test/items/${id}`)).status).toBe(200)
    }
    for (let i = 0; i < 2; i++) expect((await request(`${server.url}/no/such/${i}`)).status).toBe(404)
    expect((await request(`${server.url}/test/boom`)).status).toBe(500)
    expect((await postJson(`${server.url}/test/echo`, { name: "" })).status).toBe(400)

    const { reply, families, series } = await scrape(server.url)
    expect(reply.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(family(families, "http_server_request_duration_seconds").type).toBe("HISTOGRAM")
    expect(family(families, "http_server_requests_total").type).toBe("COUNTER")

    const count = (labels: Record<string, string>) =>
      sampleWith(series, "http_server_request_duration_seconds_count", labels)?.value
    expect(count({ method: "GET", route: "/test/items/:item_id", status_class: "2xx" })).toBe("3")
    expect(count({ method: "GET", route: "/health/live", status_class: "2xx" })).toBe("3")
    expect(count({ method: "GET", route: "unmatched", status_class: "4xx" })).toBe("2")
    expect(count({ method: "GET", route: "/test/boom", status_class: "5xx" })).toBe("1")
    // Buckets are cumulative and end at the count.
    const buckets = samplesOf(series, "http_server_request_duration_seconds_bucket").filter(
      (sample) => sample.labels?.route === "/test/items/:item_id"
    )
    expect(buckets.length).toBeGreaterThan(5)
    const counts = buckets.map((sample) => Number(sample.value))
    expect(counts).toEqual([...counts].sort((a, b) => a - b))
    expect(buckets.find((sample) => sample.labels?.le === "+Inf")?.value).toBe("3")

    expect(
      sampleWith(families, "http_server_requests_total", {
        method: "GET",
        route: "/test/items/:item_id",
        status_class: "2xx"
      })?.value
    ).toBe("3")
    expect(
      sampleWith(families, "http_server_requests_total", { route: "/test/boom", status_class: "5xx" })?.value
    ).toBe("1")

    // Raw paths never become label values.
    expect(reply.text).not.toContain("/test/items/a")
    expect(reply.text).not.toContain("/no/such")

    expect(
      sampleWith(families, "http_server_errors_total", { route: "/test/boom", tag: "InternalError" })?.value
    ).toBe("1")
    expect(
      sampleWith(families, "http_server_errors_total", { route: "unmatched", tag: "NotFound" })?.value
    ).toBe("2")
    expect(
      sampleWith(families, "http_server_errors_total", { route: "/test/echo", tag: "ValidationError" })?.value
    ).toBe("1")

    // Default Node metrics and the component metrics other layers report into are all there.
    for (const name of [
      "process_cpu_user_seconds_total",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
      "focusforge_alerts_active",
      "focusforge_system_cpu_usage_ratio",
      "focusforge_data_dir_disk_used_ratio"
    ]) {
      family(families, name)
    }
  })

  it("reports percentiles that agree with the latencies the client measured", async () => {
    const measured: Array<number> = []
    for (const ms of [...Array(12).fill(40), ...Array(8).fill(160)]) {
      const started = performance.now()
      const reply = await request(`${server.url}/test/slow?ms=${ms}`)
      measured.push(performance.now() - started)
      expect(reply.status).toBe(200)
    }
    measured.sort((a, b) => a - b)

    const reply = await request(`${server.url}/metrics/performance`)
    expect(reply.status).toBe(200)
    const report = reply.json() as {
      window_seconds: number
      endpoints: ReadonlyArray<{
        route: string
        count: number
        p50_ms: number
        p95_ms: number
        p99_ms: number
      }>
      system: { cpu: { cores: number }; memory: { rss_bytes: number }; disk: { used_percent: number } | null }
      alerts: ReadonlyArray<unknown>
    }
    expect(report.window_seconds).toBe(300)
    const slow = report.endpoints.find((endpoint) => endpoint.route === "/test/slow")
    expect(slow?.count).toBe(20)
    // The server's latency of a request lies between the time its handler must sleep and the time the
    // client saw (which adds connection, transfer and, on a loaded machine, scheduling delays); the
    // window's buckets are 10% wide. Each reported percentile must fall in that band.
    const requested = [...Array(12).fill(40), ...Array(8).fill(160)].sort((a, b) => a - b)
    for (const [q, key] of [
      [0.5, "p50_ms"],
      [0.95, "p95_ms"],
      [0.99, "p99_ms"]
    ] as const) {
      const floor = percentile(requested, q) * 0.9
      const ceiling = percentile(measured, q) * 1.1 + 5
      const reported = slow?.[key] ?? Number.NaN
      expect(reported, `${key}: server ${reported}, band [${floor}, ${ceiling}]`).toBeGreaterThanOrEqual(
        floor
      )
      expect(reported, `${key}: server ${reported}, band [${floor}, ${ceiling}]`).toBeLessThanOrEqual(ceiling)
    }
    // p50 falls among the 40 ms requests and p95 among the 160 ms ones.
    expect(slow?.p50_ms).toBeLessThan(140)
    expect(slow?.p95_ms).toBeGreaterThan(140)
    expect(report.system.cpu.cores).toBeGreaterThan(0)
    expect(report.system.memory.rss_bytes).toBeGreaterThan(0)
    expect(report.system.disk?.used_percent).toBeGreaterThan(0)
    expect(Array.isArray(report.alerts)).toBe(true)
  })

  it("lists both endpoints in the OpenAPI document and the monitor in /health", async () => {
    const spec = (await request(`${server.url}/openapi.json`)).json() as { paths: Record<string, unknown> }
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(["/metrics", "/metrics/performance"]))
    const health = (await request(`${server.url}/health`)).json() as {
      components: Record<string, { critical: boolean }>
    }
    expect(health.components.monitor?.critical).toBe(false)
  })
})

describe("/metrics behind METRICS_TOKEN", () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await startServer({ METRICS_TOKEN: "scrape-me-please" })
  })
  afterAll(async () => {
    await server.stop()
  })

  it("refuses a missing or wrong token and serves the right one", async () => {
    const missing = await request(`${server.url}/metrics`)
    expect(missing.status).toBe(401)
    expect((missing.json() as { _tag: string })._tag).toBe("Unauthorized")
    const wrong = await request(`${server.url}/metrics/performance`, {
      headers: { authorization: "Bearer nope" }
    })
    expect(wrong.status).toBe(401)
    await scrape(server.url, { authorization: "Bearer scrape-me-please" })
    const performance = await request(`${server.url}/metrics/performance`, {
      headers: { authorization: "Bearer scrape-me-please" }
    })
    expect(performance.status).toBe(200)
    // Health stays open: probes carry no token.
    expect((await request(`${server.url}/health/live`)).status).toBe(200)
  })
})
