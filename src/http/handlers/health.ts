import { Effect } from "effect"
import type { HttpServerRequest } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { AppConfig } from "../../layers/config/AppConfig.ts"
import { Health, type HealthReport } from "../../layers/observability/Health.ts"
import { FocusForgeApi } from "../Api.ts"
import { Unhealthy } from "../api/HealthApi.ts"
import { ServiceUnavailable } from "../errors.ts"
import { isOperator } from "../exposure.ts"

/**
 * The report as anyone may see it: the overall status and each component's status. Component messages
 * and details (addresses, pool sizes, error texts from drivers) are for the operator only.
 */
export const publicReport = (report: HealthReport): HealthReport => ({
  ...report,
  components: Object.fromEntries(
    Object.entries(report.components).map(([name, { status, critical }]) => [name, { status, critical }])
  )
})

export const HealthHandlers = HttpApiBuilder.group(FocusForgeApi, "health", (handlers) =>
  Effect.gen(function* () {
    const health = yield* Health
    const { monitor } = yield* AppConfig
    /** The report this request may see: whole for the operator, `publicReport` for everyone else. */
    const reportFor = (request: HttpServerRequest.HttpServerRequest) =>
      Effect.map(health.report, (report) =>
        isOperator(monitor.token, request) ? report : publicReport(report)
      )
    return handlers
      .handle("health", ({ request }) =>
        Effect.flatMap(reportFor(request), (report) =>
          report.status === "unhealthy"
            ? Effect.fail(new Unhealthy({ message: "A critical component is unhealthy", details: report }))
            : Effect.succeed(report)
        )
      )
      .handle("live", () => Effect.succeed({ status: "ok" as const }))
      .handle("ready", ({ request }) =>
        Effect.gen(function* () {
          if (yield* health.isDraining) {
            return yield* new ServiceUnavailable({ message: "Shutting down: draining in-flight requests" })
          }
          const report = yield* reportFor(request)
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
