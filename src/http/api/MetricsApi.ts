import { Schema } from "effect"
import {
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiMiddleware,
  HttpApiSchema,
  HttpApiSecurity,
  OpenApi
} from "effect/http-api"
import { PerformanceReport } from "../../layers/observability/Monitor.ts"
import { Unauthorized } from "../errors.ts"

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

/** A bearer token guards the operator endpoints when `METRICS_TOKEN` is set; without it they are open. */
export class MetricsAuth extends HttpApiMiddleware.Service<MetricsAuth>()("MetricsAuth", {
  error: Unauthorized,
  security: { metricsToken: HttpApiSecurity.bearer }
}) {}

export class MetricsApi extends HttpApiGroup.make("metrics", { topLevel: true })
  .add(
    HttpApiEndpoint.get("metrics", "/metrics", {
      success: Schema.String.pipe(HttpApiSchema.asText({ contentType: PROMETHEUS_CONTENT_TYPE }))
    }).annotate(OpenApi.Summary, "Every metric of this instance in the Prometheus text exposition format")
  )
  .add(
    HttpApiEndpoint.get("performance", "/metrics/performance", { success: PerformanceReport }).annotate(
      OpenApi.Summary,
      "Per-endpoint count, error rates and p50/p95/p99 latency over the sliding window, system resources and active alerts"
    )
  )
  .middleware(MetricsAuth)
  .annotate(OpenApi.Title, "Metrics")
  .annotate(
    OpenApi.Description,
    "Operator endpoints. When METRICS_TOKEN is set they require `Authorization: Bearer <METRICS_TOKEN>`."
  ) {}
