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
import { Effect, Layer, Option, Tracer } from "effect"
import { randomUUID } from "node:crypto"
import { AppConfig } from "./AppConfig.ts"
import { appVersion } from "./Health.ts"
import { logReleased } from "./Logging.ts"

/** Identifies this process among the instances behind the load balancer, in traces and reports. */
export const instanceId: string = randomUUID()

/** `OTEL_EXPORTER_OTLP_ENDPOINT` is the collector's base URL; traces go to its `/v1/traces`. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/v1/traces`

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

const exportingTracer = (endpoint: string, serviceName: string, sampleRatio: number) => {
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

/**
 * Exports every span over OTLP/HTTP (JSON) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and does nothing
 * otherwise. New traces are sampled at `OTEL_TRACES_SAMPLER_ARG`; a request that arrives with a
 * `traceparent` follows its caller's decision so a trace is never cut in half.
 */
export const TelemetryLive = Layer.unwrap(
  Effect.map(AppConfig, ({ otel }) =>
    Option.match(otel.endpoint, {
      onNone: () => Layer.empty,
      onSome: (endpoint) =>
        Layer.merge(
          exportingTracer(endpoint, otel.serviceName, otel.sampleRatio),
          Layer.effectDiscard(
            Effect.logInfo("exporting traces").pipe(
              Effect.annotateLogs({ endpoint: tracesUrl(endpoint), sample_ratio: otel.sampleRatio }),
              Effect.andThen(logReleased("telemetry"))
            )
          )
        )
    })
  )
)

/** True when spans leave the process, so the HTTP tracer is worth its cost. */
export const tracingEnabled = Effect.map(AppConfig, ({ otel }) => Option.isSome(otel.endpoint))
