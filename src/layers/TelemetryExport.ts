/**
 * The OTLP/HTTP trace exporter, loaded only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (src/layers/Telemetry.ts
 * imports this module on demand): the OpenTelemetry SDK is a tenth of the server's code, and a server that
 * exports no traces should neither load nor hold it.
 */
import { OtelTracer, Resource } from "@effect/opentelemetry"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { type Attributes, type Context as OtelContext, type Link, SpanKind } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Tracer } from "effect"
import { appVersion } from "./Health.ts"
import { instanceId, tracesUrl } from "./Telemetry.ts"

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

/** Effect's tracer, exporting every sampled span to `endpoint` over OTLP/HTTP (JSON). */
export const exportingTracer = (endpoint: string, serviceName: string, sampleRatio: number) => {
  const ResourceLive = Resource.layer({
    serviceName,
    serviceVersion: appVersion,
    attributes: { "service.instance.id": instanceId }
  })
  const ProviderLive = NodeSdk.layerTracerProvider(
    new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(endpoint) }), {
      scheduledDelayMillis: 1_000
    }),
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
