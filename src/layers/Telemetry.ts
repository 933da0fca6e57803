import { NodeSdk } from "@effect/opentelemetry"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler
} from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Option } from "effect"
import { randomUUID } from "node:crypto"
import { AppConfig } from "./AppConfig.ts"
import { appVersion } from "./Health.ts"
import { logReleased } from "./Logging.ts"

/** Identifies this process among the instances behind the load balancer, in traces and reports. */
export const instanceId: string = randomUUID()

/** `OTEL_EXPORTER_OTLP_ENDPOINT` is the collector's base URL; traces go to its `/v1/traces`. */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, "")}/v1/traces`

/**
 * Exports every span over OTLP/HTTP (JSON) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and does nothing
 * otherwise. New traces are sampled at `OTEL_TRACES_SAMPLER_ARG`; a request that arrives with a
 * `traceparent` follows its caller's decision so a trace is never cut in half.
 */
export const TelemetryLive = Layer.unwrapEffect(
  Effect.map(AppConfig, ({ otel }) =>
    Option.match(otel.endpoint, {
      onNone: () => Layer.empty,
      onSome: (endpoint) =>
        Layer.merge(
          NodeSdk.layer(() => ({
            resource: {
              serviceName: otel.serviceName,
              serviceVersion: appVersion,
              attributes: { "service.instance.id": instanceId }
            },
            spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(endpoint) }), {
              scheduledDelayMillis: 1_000
            }),
            tracerConfig: {
              sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(otel.sampleRatio) })
            },
            shutdownTimeout: "3 seconds"
          })),
          Layer.scopedDiscard(
            Effect.logInfo("exporting traces").pipe(
              Effect.annotateLogs({ endpoint: tracesUrl(endpoint), sample_ratio: otel.sampleRatio }),
              Effect.zipRight(logReleased("telemetry"))
            )
          )
        )
    })
  )
)

/** True when spans leave the process, so the HTTP tracer is worth its cost. */
export const tracingEnabled = Effect.map(AppConfig, ({ otel }) => Option.isSome(otel.endpoint))
