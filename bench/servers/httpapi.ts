/**
 * Ladder rung 3: an `HttpApi` with the same `/health/live` endpoint as FocusForge (success schema
 * decoded/encoded by the builder), served by `HttpApiBuilder.serve()` with none of our middleware.
 */
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpServer } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import * as Http from "node:http"

class Live extends HttpApiGroup.make("health", { topLevel: true }).add(
  HttpApiEndpoint.get("live", "/health/live").addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
) {}

class BenchApi extends HttpApi.make("bench").add(Live) {}

const LiveHandlers = HttpApiBuilder.group(BenchApi, "health", (handlers) =>
  handlers.handle("live", () => Effect.succeed({ status: "ok" as const }))
)

const ServerLive = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(BenchApi).pipe(Layer.provide(LiveHandlers))),
  HttpServer.withLogAddress,
  Layer.provide(
    NodeHttpServer.layer(() => Http.createServer({ keepAliveTimeout: 65_000 }), {
      port: Number(process.env.PORT ?? 0),
      host: "127.0.0.1",
      backlog: 4096
    })
  )
)

NodeRuntime.runMain(Layer.launch(ServerLive))
