import { HttpApi, OpenApi } from "@effect/platform"
import { appVersion } from "../layers/Health.ts"
import { AuthApi } from "./api/AuthApi.ts"
import { HealthApi } from "./api/HealthApi.ts"
import { MetricsApi } from "./api/MetricsApi.ts"
import { MoodApi } from "./api/MoodApi.ts"
import { OrchestratorApi, OrchestratorStatusApi } from "./api/OrchestratorApi.ts"
import { StoreApi } from "./api/StoreApi.ts"
import { TasksApi } from "./api/TasksApi.ts"
import { InternalError, MalformedRequest, NotFound, PayloadTooLarge, ValidationError } from "./errors.ts"
import { correctOpenApi } from "./openapi.ts"

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
  .addError(ValidationError)
  .addError(MalformedRequest)
  .addError(NotFound)
  .addError(PayloadTooLarge)
  .addError(InternalError)
  .annotate(OpenApi.Title, "FocusForge API")
  .annotate(OpenApi.Version, appVersion)
  .annotate(
    OpenApi.Description,
    "Focus blocks, moods, tokens and rewards on an event-sourced core. Every error has the envelope `{ _tag, message, details? }`."
  )
  .annotate(OpenApi.Transform, correctOpenApi) {}
