/**
 * Ladder rung 3: an `HttpApi` with the same `/health/live` endpoint as FocusForge (success schema
 * decoded/encoded by the builder), served by `HttpApiBuilder.layer` on `HttpRouter.serve` with none of
 * our middleware (the router's request logger off, as Effect 3's `HttpApiBuilder.serve()` had none).
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Schema } from "effect"
import { HttpRouter } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import * as Http from "node:http"

class Live extends HttpApiGroup.make("health", { topLevel: true }).add(
  HttpApiEndpoint.get("live", "/health/live", { success: Schema.Struct({ status: Schema.Literal("ok") }) })
) {}

class BenchApi extends HttpApi.make("bench").add(Live) {}

const LiveHandlers = HttpApiBuilder.group(BenchApi, "health", (handlers) =>
  handlers.handle("live", () => Effect.succeed({ status: "ok" as const }))
)

const ServerLive = HttpRouter.serve(HttpApiBuilder.layer(BenchApi).pipe(Layer.provide(LiveHandlers)), {
  disableLogger: true
}).pipe(
  Layer.provide(
    NodeHttpServer.layer(() => Http.createServer({ keepAliveTimeout: 65_000 }), {
      port: Number(process.env.PORT ?? 0),
      host: "127.0.0.1",
      backlog: 4096
    })
  )
)

NodeRuntime.runMain(Layer.launch(ServerLive))
