/**
 * The real FocusForge server stack (`makeServer`: layers, middleware, observation, runMain, drain)
 * serving the FocusForge API plus one cheap endpoint that, unlike `/health/*`, is traced: the ladder's
 * upper rungs (middleware → + metrics → + tracing) are measured on it. MONITORING and
 * OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_TRACES_SAMPLER_ARG switch the rungs, exactly as in production.
 */
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Effect, Layer, Schema } from "effect"
import { FocusForgeApi } from "../../src/http/Api.ts"
import { ApiHandlersLive, makeServer } from "../../src/http/Server.ts"
import { launch } from "../../src/launch.ts"

class BenchGroup extends HttpApiGroup.make("bench").add(
  HttpApiEndpoint.get("live", "/bench/live").addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
) {}

const BenchApi = FocusForgeApi.add(BenchGroup)

const BenchHandlers = HttpApiBuilder.group(BenchApi, "bench", (handlers) =>
  handlers.handle("live", () => Effect.succeed({ status: "ok" as const }))
)

launch(makeServer(HttpApiBuilder.api(BenchApi).pipe(Layer.provide([ApiHandlersLive, BenchHandlers]))))
