import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { HealthReport } from "../../layers/Health.ts"
import { ServiceUnavailable } from "../errors.ts"

export class Unhealthy extends Schema.TaggedError<Unhealthy>()(
  "Unhealthy",
  { message: Schema.String, details: HealthReport },
  HttpApiSchema.annotations({ status: 503, description: "A critical component is unhealthy" })
) {}

export class HealthApi extends HttpApiGroup.make("health", { topLevel: true })
  .add(
    HttpApiEndpoint.get("health", "/health")
      .addSuccess(HealthReport)
      .addError(Unhealthy)
      .annotate(
        OpenApi.Summary,
        "Overall status with one entry per component (200 healthy or degraded, 503 unhealthy)"
      )
  )
  .add(
    HttpApiEndpoint.get("live", "/health/live")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .annotate(OpenApi.Summary, "Liveness: the process answers")
  )
  .add(
    HttpApiEndpoint.get("ready", "/health/ready")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ready") }))
      .addError(ServiceUnavailable)
      .annotate(OpenApi.Summary, "Readiness: critical components are up and the instance is not draining")
  )
  .annotate(OpenApi.Title, "Health") {}
