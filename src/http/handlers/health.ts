import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Health } from "../../layers/Health.ts"
import { FocusForgeApi } from "../Api.ts"
import { Unhealthy } from "../api/HealthApi.ts"
import { ServiceUnavailable } from "../errors.ts"

export const HealthHandlers = HttpApiBuilder.group(FocusForgeApi, "health", (handlers) =>
  Effect.gen(function* () {
    const health = yield* Health
    return handlers
      .handle("health", () =>
        Effect.flatMap(health.report, (report) =>
          report.status === "unhealthy"
            ? Effect.fail(new Unhealthy({ message: "A critical component is unhealthy", details: report }))
            : Effect.succeed(report)
        )
      )
      .handle("live", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", () =>
        Effect.gen(function* () {
          if (yield* health.isDraining) {
            return yield* new ServiceUnavailable({ message: "Shutting down: draining in-flight requests" })
          }
          const report = yield* health.report
          if (report.status === "unhealthy") {
            return yield* new ServiceUnavailable({
              message: "A critical component is unhealthy",
              details: report
            })
          }
          return { status: "ready" as const }
        })
      )
  })
)
