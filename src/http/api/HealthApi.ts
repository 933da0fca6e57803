import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import { HealthReport } from "../../layers/observability/Health.ts"
import { ServiceUnavailable } from "../errors.ts"

export class Unhealthy extends Schema.TaggedError<Unhealthy>()(
  "Unhealthy",
  { message: Schema.String, details: HealthReport },
  { httpApiStatus: 503, description: "A critical component is unhealthy" }
) {}

export class HealthApi extends HttpApiGroup.make("health", { topLevel: true })
  .add(
    HttpApiEndpoint.get("health", "/health", { success: HealthReport, error: Unhealthy }).annotate(
      OpenApi.Summary,
      "Overall status with one entry per component (200 healthy or degraded, 503 unhealthy)"
    )
  )
  .add(
    HttpApiEndpoint.get("live", "/health/live", {
      success: Schema.Struct({ status: Schema.Literal("ok") })
    }).annotate(OpenApi.Summary, "Liveness: the process answers")
  )
  .add(
    HttpApiEndpoint.get("ready", "/health/ready", {
      success: Schema.Struct({ status: Schema.Literal("ready") }),
      error: ServiceUnavailable
    }).annotate(OpenApi.Summary, "Readiness: critical components are up and the instance is not draining")
  )
  .annotate(OpenApi.Title, "Health")
  .annotate(OpenApi.Description, "Liveness, readiness and per-component health of this instance.") {}
