/**
 * The real FocusForge server stack (`makeServer`: layers, middleware, observation, runMain, drain)
 * serving the FocusForge API plus two cheap endpoints that, unlike `/health/*`, are traced: the ladder's
 * upper rungs are measured on them. `/bench/live` answers a constant like `/health/live`;
 * `/bench/authed` answers the same constant behind the API's bearer authentication (JWT signature and
 * expiry, then the account read through its actor: exists, token not revoked), exactly as every
 * protected route. MONITORING and OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_TRACES_SAMPLER_ARG switch the
 * rungs, exactly as in production.
 */
import { Effect, Layer, Schema } from "effect"
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { FocusForgeApi } from "../../src/http/Api.ts"
import { ErrorEnvelope } from "../../src/http/api/Envelope.ts"
import { Authentication } from "../../src/http/api/Security.ts"
import { AuthenticationLive } from "../../src/http/handlers/security.ts"
import { ErrorEnvelopeLive } from "../../src/http/middleware.ts"
import { ApiHandlersLive, makeServer } from "../../src/http/Server.ts"
import { launch } from "../../src/launch.ts"

const Ok = Schema.Struct({ status: Schema.Literal("ok") })

class BenchGroup extends HttpApiGroup.make("bench")
  .add(HttpApiEndpoint.get("live", "/bench/live", { success: Ok }))
  .add(HttpApiEndpoint.get("authed", "/bench/authed", { success: Ok }).middleware(Authentication))
  // Added to the API after its own groups, so it takes the API's error envelope itself (as on Effect 3,
  // where the API's errors applied to every group).
  .middleware(ErrorEnvelope) {}

const BenchApi = FocusForgeApi.add(BenchGroup)

const BenchHandlers = HttpApiBuilder.group(BenchApi, "bench", (handlers) =>
  handlers
    .handle("live", () => Effect.succeed({ status: "ok" as const }))
    .handle("authed", () => Effect.succeed({ status: "ok" as const }))
).pipe(Layer.provide([AuthenticationLive, ErrorEnvelopeLive]))

launch(makeServer(BenchApi, Layer.mergeAll(ApiHandlersLive, BenchHandlers)))
