import { Effect, Layer, Option } from "effect"
import { AppConfig } from "../config/AppConfig.ts"
import { logReleased } from "./Logging.ts"
import { tracesUrl } from "./otlp.ts"

/**
 * Exports every span over OTLP/HTTP (JSON) when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and does nothing
 * otherwise. New traces are sampled at `OTEL_TRACES_SAMPLER_ARG`; a request that arrives with a
 * `traceparent` follows its caller's decision so a trace is never cut in half.
 */
export const TelemetryLive = Layer.unwrap(
  Effect.map(AppConfig, ({ otel, http }) =>
    Option.match(otel.endpoint, {
      onNone: () => Layer.empty,
      onSome: (endpoint) =>
        Layer.merge(
          Layer.unwrap(
            Effect.promise(() => import("./TelemetryExport.ts")).pipe(
              Effect.map(({ exportingTracer }) =>
                exportingTracer({
                  endpoint,
                  serviceName: otel.serviceName,
                  sampleRatio: otel.sampleRatio,
                  instanceId: http.instanceId
                })
              )
            )
          ),
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
