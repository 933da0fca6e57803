/**
 * The OTLP/HTTP trace exporter, loaded only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (src/layers/observability/Telemetry.ts
 * imports this module on demand): the OpenTelemetry SDK is a tenth of the server's code, and a server that
 * exports no traces should neither load nor hold it.
 */
import { OtelTracer, Resource } from "@effect/opentelemetry"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import {
  type Attributes,
  type Context as OtelContext,
  type Link,
  SpanKind,
  type SpanStatus,
  SpanStatusCode
} from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  type Span,
  type SpanProcessor,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Tracer } from "effect"
import { appVersion } from "./Health.ts"
import { tracesUrl } from "./otlp.ts"

/**
 * New HTTP server spans are sampled at the edge (`sampledAtEdge` in src/http/observe.ts), before the span
 * exists, so an unsampled request costs nothing; the server span of a request let through is recorded.
 * Every other new root (background work) is sampled here at the ratio.
 */
class EdgeSampledServerSpans implements Sampler {
  constructor(private readonly roots: Sampler) {}
  shouldSample(
    context: OtelContext,
    traceId: string,
    spanName: string,
    spanKind: SpanKind,
    attributes: Attributes,
    links: Array<Link>
  ): SamplingResult {
    return spanKind === SpanKind.SERVER
      ? { decision: SamplingDecision.RECORD_AND_SAMPLED }
      : this.roots.shouldSample(context, traceId, spanName, spanKind, attributes, links)
  }
  toString(): string {
    return `EdgeSampledServerSpans{${this.roots.toString()}}`
  }
}

/**
 * `@effect/opentelemetry` 4 hands OTel a remote parent with its own sampled flag, so the parent-based
 * sampler keeps a caller's "not sampled" decision without help (the Effect 3 version needed a wrapper
 * that marked such parents). What remains is dropping the tracer's `context` hook: the OTel tracer
 * would enter the span's OTel context (AsyncLocalStorage) on every resume of every traced fiber. Only
 * OTel-instrumented libraries read that context and none runs in this process: Effect spans carry their
 * parent themselves, and outgoing HTTP calls take `traceparent` from them.
 */
const withoutOtelContext = (tracer: Tracer.Tracer): Tracer.Tracer =>
  Tracer.make({ span: (options) => tracer.span(options) })

/** The methods the HTTP semantic conventions name spans after; any other is `HTTP` (no unbounded names). */
const KNOWN_METHODS: ReadonlySet<string> = new Set([
  "CONNECT",
  "DELETE",
  "GET",
  "HEAD",
  "OPTIONS",
  "PATCH",
  "POST",
  "PUT",
  "TRACE"
])

/** `METHOD route-template`, `METHOD` when no route matched: the names Jaeger and Tempo group requests by. */
export const serverSpanName = (method: unknown, route: unknown): string => {
  const name = typeof method === "string" && KNOWN_METHODS.has(method) ? method : "HTTP"
  return typeof route === "string" && route !== "" ? `${name} ${route}` : name
}

/**
 * Server spans as the stable HTTP semantic conventions want them, finished just before they end. Only
 * recorded spans reach a span processor, so a request that is not sampled pays nothing for this.
 *
 * - The name: the platform opens the span under the method alone, before the router has matched; the
 *   route template (`http.route`, which the router adds) is known only now.
 * - The status: `@effect/opentelemetry` ends every span that succeeded with status OK, but for a server
 *   span a 4xx is the client's mistake, not a failure of ours, and the conventions want it left unset
 *   (5xx responses end as failures, so they are ERROR). The SDK's `setStatus` ignores anything once OK
 *   is set, so the field is reset directly; the span is still open here (`onEnding`).
 */
export class HttpServerSpanConventions implements SpanProcessor {
  onStart(): void {}
  onEnding(span: Span): void {
    if (span.kind !== SpanKind.SERVER) return
    span.updateName(serverSpanName(span.attributes["http.request.method"], span.attributes["http.route"]))
    if (span.status.code === SpanStatusCode.OK) {
      // The SDK's span keeps `status` as a plain mutable field; `ReadableSpan` only types it read-only.
      ;(span as { status: SpanStatus }).status = { code: SpanStatusCode.UNSET }
    }
  }
  onEnd(): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve()
  }
  shutdown(): Promise<void> {
    return Promise.resolve()
  }
}

/**
 * Effect's tracer, exporting every sampled span to `endpoint` over OTLP/HTTP (JSON), on a resource that
 * names this instance (`service.instance.id`, the `INSTANCE_ID` that `x-instance-id` also carries).
 */
export const exportingTracer = (options: {
  readonly endpoint: string
  readonly serviceName: string
  readonly sampleRatio: number
  readonly instanceId: string
}) => {
  const { endpoint, serviceName, sampleRatio, instanceId } = options
  const ResourceLive = Resource.layer({
    serviceName,
    serviceVersion: appVersion,
    attributes: { "service.instance.id": instanceId }
  })
  const ProviderLive = NodeSdk.layerTracerProvider(
    [
      new HttpServerSpanConventions(),
      new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(endpoint) }), {
        scheduledDelayMillis: 1_000
      })
    ],
    {
      sampler: new ParentBasedSampler({
        root: new EdgeSampledServerSpans(new TraceIdRatioBasedSampler(sampleRatio))
      }),
      shutdownTimeout: "3 seconds"
    }
  )
  return Layer.effect(Tracer.Tracer, Effect.map(OtelTracer.make, withoutOtelContext)).pipe(
    Layer.provide(OtelTracer.layerTracer),
    Layer.provide(ProviderLive),
    Layer.provide(ResourceLive)
  )
}
