import { HttpApi, OpenApi } from "effect/http-api"
import { appVersion } from "../layers/observability/Health.ts"
import { AuthApi } from "./api/AuthApi.ts"
import { ErrorEnvelope } from "./api/Envelope.ts"
import { HealthApi } from "./api/HealthApi.ts"
import { MetricsApi } from "./api/MetricsApi.ts"
import { MoodApi } from "./api/MoodApi.ts"
import { DocumentedChains, OrchestratorApi, OrchestratorStatusApi } from "./api/OrchestratorApi.ts"
import { StoreApi } from "./api/StoreApi.ts"
import { TasksApi } from "./api/TasksApi.ts"
import { correctOpenApi, withChainEndpoints } from "./openapi.ts"

/** Every offending field of a request is reported, not only the first. */
const ALL_ERRORS = { errors: "all" } as const

/** The whole HTTP contract as a value: handlers, the OpenAPI document and typed clients derive from it. */
export class FocusForgeApi extends HttpApi.make("focusforge")
  .add(HealthApi)
  .add(MetricsApi)
  .add(AuthApi)
  .add(TasksApi)
  .add(MoodApi)
  .add(StoreApi)
  .add(OrchestratorApi)
  .add(OrchestratorStatusApi)
  .middleware(ErrorEnvelope)
  .annotate(HttpApi.PayloadParseOptions, ALL_ERRORS)
  .annotate(HttpApi.QueryParseOptions, ALL_ERRORS)
  .annotate(HttpApi.HeadersParseOptions, ALL_ERRORS)
  .annotate(OpenApi.Title, "FocusForge API")
  .annotate(OpenApi.Version, appVersion)
  .annotate(
    OpenApi.Description,
    "Focus blocks, moods, tokens and rewards on an event-sourced core. Every error has the envelope `{ _tag, message, details? }`."
  )
  .annotate(OpenApi.License, { name: "Proprietary", identifier: "LicenseRef-Proprietary" })
  // the chain endpoint is expanded first, so its schemas get the same corrections as the others
  .annotate(OpenApi.Transform, (spec) => correctOpenApi(withChainEndpoints(DocumentedChains)(spec))) {}
