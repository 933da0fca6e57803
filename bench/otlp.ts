/**
 * What exporting a span costs: the product's exporter (`exportingTracer` of src/layers/observability/TelemetryExport.ts:
 * `@effect/opentelemetry` over the OpenTelemetry JS SDK, `BatchSpanProcessor` + `OTLPTraceExporter`,
 * OTLP/HTTP JSON) against Effect 4's native one (`effect/observability` `OtlpTracer.layer` +
 * `OtlpSerialization.layerJson` over `NodeHttpClient.layerUndici`), and against no tracer layer at all
 * (Effect's default tracer: spans made, nothing exported). The workload is shaped like a request: one
 * root span with 8 attributes and two child spans, run sequentially N times; the CPU time (user + system)
 * of the process is taken from before the first root to after the tracer's layer is shut down (the
 * flush), and a loopback sink in this process counts the spans that arrived.
 *
 * Each run is its own child process (pinned to core 0; this process, the sink, to core 1), in rotating
 * rounds, so that one exporter's JIT and GC state never colours another's measurement.
 *
 * The measured runs pause 1 ms every 20 requests: in a tight loop the SDK's BatchSpanProcessor (2,048-span
 * queue) can drop spans, which would make its row cheaper and invalid; two tight-loop runs per exporter
 * are reported apart to show whether it does.
 *
 *   npx tsx bench/otlp.ts     BENCH_OTLP_ROOTS (default 20000), BENCH_OTLP_ROUNDS (default 7),
 *                             BENCH_OTLP_PAUSE_EVERY (default 20)
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { execFileSync, spawn } from "node:child_process"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { appVersion } from "../src/layers/observability/Health.ts"
import { tracesUrl } from "../src/layers/observability/otlp.ts"
import { exportingTracer } from "../src/layers/observability/TelemetryExport.ts"
import {
  fmt,
  LOAD_CPU,
  loadAverage,
  machine,
  median,
  pin,
  pinned,
  SERVER_CPU,
  writeSection
} from "./support/harness.ts"

const ROOTS = Number(process.env.BENCH_OTLP_ROOTS ?? 20_000)
const ROUNDS = Number(process.env.BENCH_OTLP_ROUNDS ?? 7)
const WARMUP_ROOTS = 5_000
/** Requests between two 1 ms pauses in the measured runs (a server that is busy, not saturated). */
const PAUSE_EVERY = Number(process.env.BENCH_OTLP_PAUSE_EVERY ?? 20)
/** Runs per exporter of the same requests in a tight loop (no pause). */
const BURST_ROUNDS = 2
const SPANS_PER_ROOT = 3
const SERVICE = "focusforge-bench"
const INSTANCE = `bench-${process.pid}`

const variants = ["none", "otel", "native"] as const
type Variant = (typeof variants)[number]
const labels: Record<Variant, string> = {
  none: "no tracer layer (Effect's default tracer, nothing exported)",
  otel: "product: `exportingTracer` (@effect/opentelemetry + OTel SDK BatchSpanProcessor + OTLPTraceExporter)",
  native: "native: `OtlpTracer.layer` + `OtlpSerialization.layerJson` + `NodeHttpClient.layerUndici`"
}

interface ChildResult {
  readonly cpuUs: number
  readonly wallMs: number
  readonly flushMs: number
}

// --- child: one exporter, one measured run ----------------------------------------------------------

/** The tracer layer under test; `base` is the collector's base URL (traces go to `${base}/v1/traces`). */
const tracerLayer = (variant: Variant, base: string): Layer.Layer<never> => {
  switch (variant) {
    case "none":
      return Layer.empty
    case "otel":
      return exportingTracer({
        endpoint: base,
        serviceName: SERVICE,
        sampleRatio: 1,
        instanceId: INSTANCE
      }) as Layer.Layer<never>
    case "native":
      return OtlpTracer.layer({
        url: tracesUrl(base),
        resource: {
          serviceName: SERVICE,
          serviceVersion: appVersion,
          attributes: { "service.instance.id": INSTANCE }
        },
        // The product's BatchSpanProcessor exports every second (`scheduledDelayMillis: 1_000`).
        exportInterval: "1 second"
      }).pipe(
        Layer.provide(OtlpSerialization.layerJson),
        Layer.provide(NodeHttpClient.layerUndici)
      ) as Layer.Layer<never>
  }
}

/** Two child spans, defined once (as a service's `Effect.fn`/`withSpan`-wrapped steps are). */
const loadTask = Effect.sync(() => 1).pipe(Effect.withSpan("TaskRepository.load"))
const render = Effect.sync(() => 2).pipe(Effect.withSpan("render"))

/** One request: a server root span with 8 attributes (built per request, as the HTTP middleware does). */
const request = (i: number) =>
  Effect.zipWith(loadTask, render, (a, b) => a + b).pipe(
    Effect.withSpan("GET /api/v1/tasks/:task_id", {
      kind: "server",
      attributes: {
        "http.request.method": "GET",
        "http.route": "/api/v1/tasks/:task_id",
        "url.path": `/api/v1/tasks/${i}`,
        "url.scheme": "http",
        "http.response.status_code": 200,
        "user_agent.original": "bench/otlp",
        "client.address": "127.0.0.1",
        "focusforge.user_id": `user-${i % 100}`
      }
    })
  )

/** An idle millisecond (a timer), as a server that is not saturated has between bursts of requests. */
const pause = Effect.sleep("1 millis")

/** `roots` requests one after the other, pausing 1 ms after every `pauseEvery` of them (0: never). */
const workload = (roots: number, pauseEvery: number) =>
  Effect.gen(function* () {
    for (let i = 0; i < roots; i++) {
      yield* request(i)
      if (pauseEvery > 0 && (i + 1) % pauseEvery === 0) yield* pause
    }
  })

/** Builds the layer (not measured), runs `roots` requests and disposes of the runtime (the flush). */
const runOnce = async (
  variant: Variant,
  base: string,
  roots: number,
  pauseEvery: number
): Promise<ChildResult> => {
  const runtime = ManagedRuntime.make(tracerLayer(variant, base))
  await runtime.context()
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await runtime.runPromise(workload(roots, pauseEvery))
  const ran = performance.now()
  await runtime.dispose()
  const ended = performance.now()
  const cpu = process.cpuUsage(cpuBefore)
  return { cpuUs: cpu.user + cpu.system, wallMs: ended - started, flushMs: ended - ran }
}

const child = async (variant: Variant, endpoint: string, pauseEvery: number) => {
  // Warm-up through its own layer, exporting to a path the sink does not count.
  await runOnce(variant, `${endpoint}/warmup`, WARMUP_ROOTS, pauseEvery)
  const result = await runOnce(variant, endpoint, ROOTS, pauseEvery)
  console.log(`BENCH_OTLP_RESULT ${JSON.stringify(result)}`)
}

// --- parent: sink, rounds, report -------------------------------------------------------------------

/** A loopback OTLP/HTTP JSON collector: 200 to every POST, counting the spans that reach `/v1/traces`. */
const startCountingSink = async () => {
  let spans = 0
  let exports = 0
  let bad = 0
  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
            resourceSpans?: ReadonlyArray<{ scopeSpans?: ReadonlyArray<{ spans?: ReadonlyArray<unknown> }> }>
          }
          for (const resource of body.resourceSpans ?? []) {
            for (const scope of resource.scopeSpans ?? []) spans += scope.spans?.length ?? 0
          }
          exports++
        } catch {
          bad++
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    take: () => {
      const counted = { spans, exports, bad }
      spans = 0
      exports = 0
      bad = 0
      return counted
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const self = fileURLToPath(import.meta.url)

const runChild = (variant: Variant, endpoint: string, pauseEvery: number): Promise<ChildResult> =>
  new Promise((resolve, reject) => {
    const [command, ...args] = pin(SERVER_CPU, [process.execPath, "--import", "tsx", self])
    const proc = spawn(command!, args, {
      env: {
        ...process.env,
        BENCH_OTLP_CHILD: variant,
        BENCH_OTLP_ENDPOINT: endpoint,
        BENCH_OTLP_PAUSE_EVERY: String(pauseEvery)
      },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    proc.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    proc.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    proc.on("error", reject)
    proc.on("exit", (code) => {
      const line = /^BENCH_OTLP_RESULT (.*)$/m.exec(output)?.[1]
      if (code !== 0 || line === undefined) {
        reject(new Error(`${variant} run exited with ${code}:\n${output.slice(-3000)}`))
      } else {
        resolve(JSON.parse(line) as ChildResult)
      }
    })
  })

interface Run extends ChildResult {
  readonly spans: number
  readonly exports: number
  readonly bad: number
}

const parent = async () => {
  const machineLine = machine() // before pinning, which narrows availableParallelism() to one core
  if (pinned) execFileSync("taskset", ["-apc", LOAD_CPU, String(process.pid)], { stdio: "ignore" })
  const sink = await startCountingSink()
  const loadBefore = loadAverage()
  const started = performance.now()
  const measure = async (variant: Variant, pauseEvery: number, tag: string): Promise<Run> => {
    sink.take()
    const result = await runChild(variant, sink.url, pauseEvery)
    const run = { ...result, ...sink.take() }
    console.log(
      `${tag} ${variant}: ${fmt(run.cpuUs / ROOTS, 1)} µs CPU/request, ${fmt(run.wallMs)} ms wall (flush ${fmt(run.flushMs)} ms), ${run.spans} spans in ${run.exports} exports`
    )
    return run
  }
  const runs: Record<Variant, Array<Run>> = { none: [], otel: [], native: [] }
  const bursts: Record<Variant, Array<Run>> = { none: [], otel: [], native: [] }
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so a slow moment of the shared machine does not always hit the same one.
      const order = variants.map((_, i) => variants[(i + round) % variants.length]!)
      for (const variant of order)
        runs[variant].push(await measure(variant, PAUSE_EVERY, `round ${round + 1}`))
    }
    // The same requests in a tight loop: does every span still get out?
    for (let round = 0; round < BURST_ROUNDS; round++) {
      const order: ReadonlyArray<Variant> = round % 2 === 0 ? ["otel", "native"] : ["native", "otel"]
      for (const variant of order) bursts[variant].push(await measure(variant, 0, `burst ${round + 1}`))
    }
  } finally {
    await sink.close()
  }
  const seconds = (performance.now() - started) / 1000
  const loadAfter = loadAverage()

  const expected = (variant: Variant) => (variant === "none" ? 0 : ROOTS * SPANS_PER_ROOT)
  const valid = (variant: Variant, of = runs) =>
    of[variant].every((run) => run.spans === expected(variant) && run.bad === 0)
  const cpu = (variant: Variant, of = runs) => of[variant].map((run) => run.cpuUs / ROOTS)
  const list = (values: ReadonlyArray<number>, digits = 0) => values.map((n) => fmt(n, digits)).join(" / ")
  const baseline = median(cpu("none"))
  const rows = variants.map((variant) => {
    const perRequest = cpu(variant)
    const m = median(perRequest)
    const wall = runs[variant].map((run) => run.wallMs)
    const spans = `${list(runs[variant].map((run) => run.spans))}${valid(variant) ? "" : " **INVALID**"}`
    return `| ${labels[variant]} | ${fmt(m, 1)} | ${variant === "none" ? "–" : fmt(m - baseline, 1)} | ${list(perRequest, 1)} | ${fmt(median(wall))} (${list(wall)}) | ${fmt(median(runs[variant].map((run) => run.flushMs)))} | ${spans} |`
  })
  const burstRows = (["otel", "native"] as const).map(
    (variant) =>
      `| ${variant === "otel" ? "product (`exportingTracer`)" : "native (`OtlpTracer`)"} | ${list(cpu(variant, bursts), 1)} | ${list(bursts[variant].map((run) => run.wallMs))} | ${list(bursts[variant].map((run) => run.spans))} of ${fmt(expected(variant))}${valid(variant, bursts) ? "" : " (spans lost)"} |`
  )

  const otelCpu = cpu("otel")
  const nativeCpu = cpu("native")
  const otelExtra = median(otelCpu) - baseline
  const nativeExtra = median(nativeCpu) - baseline
  const separated = Math.max(...nativeCpu) < Math.min(...otelCpu)
  const invalid = variants.filter((variant) => !valid(variant))
  // The two exporters of the same round ran back to back, so their difference is less exposed to drift.
  const paired = otelCpu.map((otel, round) => otel - (nativeCpu[round] ?? Number.NaN))
  const pairedLine = `Round by round the native exporter used less CPU than the product path in ${paired.filter((d) => d > 0).length} of ${ROUNDS} rounds (difference per request ${list(paired, 1)} µs, median ${fmt(median(paired), 1)}).`
  const verdict =
    invalid.length > 0
      ? `**Invalid rows: ${invalid.join(", ")}**: not every span reached the sink (expected ${fmt(ROOTS * SPANS_PER_ROOT)} per run), so that row's cost is not comparable.`
      : separated
        ? `Every native round used less CPU than every product round: exporting costs ${fmt(nativeExtra, 1)} µs per request (3 spans) above the no-export baseline natively, against ${fmt(otelExtra, 1)} µs on the product path (${fmt(otelExtra / nativeExtra, 1)}×); the total per request falls by ${fmt((1 - median(nativeCpu) / median(otelCpu)) * 100)}%.`
        : `The rounds overlap (native ${list(nativeCpu, 1)}, product ${list(otelCpu, 1)} µs per request): no clear difference beyond round-to-round noise.`

  const lost = bursts.otel.map((run) => expected("otel") - run.spans)
  const burstLoss = lost.some((n) => n > 0)
    ? `In the tight loop the product path lost ${list(lost)} of ${fmt(expected("otel"))} spans per run. `
    : "In this run's tight loop the product path lost nothing (it can: earlier runs of this bench lost up to a fifth). "

  const section = `## OTLP trace export: OTel SDK vs Effect's native exporter (\`bench/otlp.ts\`)

\`npx tsx bench/otlp.ts\` (or \`npm run bench -- otlp\`; \`BENCH_OTLP_ROOTS\`, \`BENCH_OTLP_ROUNDS\`). A request-shaped
workload: one \`server\` root span with 8 attributes (built per request) around two child spans
(\`Effect.withSpan\`), ${fmt(ROOTS)} requests one after the other with a 1 ms pause (\`Effect.sleep\`) after every
${PAUSE_EVERY}, a server that is busy but not saturated (in a tight loop the product's exporter can lose spans,
see below); ${fmt(ROOTS * SPANS_PER_ROOT)} spans per run, every one sampled (ratio 1). CPU is the run's process time (\`process.cpuUsage()\`, user + system, so the exporter's
serialisation, HTTP client, timers and GC are in it) from the first request until the tracer's layer has been
shut down (\`ManagedRuntime.dispose\`: the final flush, awaited), divided by the requests; building the layer
is not counted. Each run is its own child process (tsx, ${pinned ? `pinned to core ${SERVER_CPU}` : "not pinned"}) that first warms up with
${fmt(WARMUP_ROOTS)} requests through a layer of its own (exporting to a path the sink does not count), so one
exporter's JIT and GC state never colours the other's; ${ROUNDS} rounds, the three in rotating order. The sink is a
node:http server in the bench process (${pinned ? `pinned to core ${LOAD_CPU}` : "not pinned"}) that answers 200 and counts the spans that
reached \`/v1/traces\`; a row whose runs did not all deliver every span is marked invalid. The product row is
\`exportingTracer(endpoint, serviceName, 1)\` of src/layers/observability/TelemetryExport.ts as the server builds it
(BatchSpanProcessor with a 1 s delay, its default 2,048-span queue and 512-span batches; OTLP/HTTP JSON over
node:http); the native row is \`OtlpTracer.layer\` with the same resource, a 1 s export interval and its
default 1,000-span batches, \`OtlpSerialization.layerJson\`, over \`NodeHttpClient.layerUndici\` (the client the
product already uses for the language model).

| tracer | µs CPU per request (median) | above baseline | per round | wall ms per run, median (rounds) | flush ms (median) | spans received per run |
|---|---:|---:|---|---|---:|---|
${rows.join("\n")}

${verdict} ${pairedLine}

The same ${fmt(ROOTS)} requests in a tight loop (no pause, about ${fmt(ROOTS / (median(bursts.otel.map((run) => run.wallMs)) / 1000))} requests/s on the product path; ${BURST_ROUNDS} runs each, for the span count rather than the cost):

| tracer | µs CPU per request (runs) | wall ms (runs) | spans received |
|---|---|---|---|
${burstRows.join("\n")}

${burstLoss}The SDK's BatchSpanProcessor drops every span that finds 2,048 already queued (one export in flight at a time,
512 spans each, the next only once the last one's answer has been handled), so whether it loses spans depends on
how fast requests come against how fast its exports complete; the native exporter starts an export (however
many are in flight) every 1,000 spans and has no queue limit, so it drops nothing, its memory bounded only by
how fast exports complete.

Semantics that differ (not measured here): the native tracer has no sampler of its own: every span with
\`sampled: true\` is exported, so the product's ratio and parent-based sampling (\`OTEL_TRACES_SAMPLER_ARG\` for
background roots) would have to be decided in Effect instead (the \`sampled\` option of the root span; children
and spans under a remote parent inherit its flag). Its resource is \`service.name\`/\`service.version\` and the given attributes plus \`OTEL_RESOURCE_ATTRIBUTES\`, without
the SDK's \`telemetry.sdk.*\` defaults. A failed export (after 3 transient retries) disables it for 60 s and drops
its buffer; its shutdown flush is bounded by \`shutdownTimeout\` (3 s by default), as the product's provider is.

Machine: ${machineLine}; load average ${loadBefore} before and ${loadAfter} after (shared with other jobs);
${fmt(seconds)} s in all. ${new Date().toISOString()}.`
  writeSection("otlp", section)
  console.log(section)
}

const childVariant = process.env.BENCH_OTLP_CHILD
if (childVariant !== undefined) {
  await child(
    childVariant as Variant,
    process.env.BENCH_OTLP_ENDPOINT!,
    Number(process.env.BENCH_OTLP_PAUSE_EVERY ?? PAUSE_EVERY)
  )
} else {
  await parent()
}
