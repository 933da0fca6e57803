/**
 * Ladder rung 2b: rung 2 (`effect.ts`: one `HttpRouter` route, a constant JSON response) served through
 * FocusForge's Node adapter (`src/http/NodeAdapter.ts`) instead of the platform's `NodeHttpServer`, so the
 * adapter's share of the per-request cost is read off side by side.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import * as NodeAdapter from "../../src/http/NodeAdapter.ts"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/health/live", HttpServerResponse.unsafeJson({ status: "ok" }))
)

const NodeServerLive = NodeAdapter.layer({
  port: Number(process.env.PORT ?? 0),
  host: "127.0.0.1",
  backlog: 4096
})

const ServerLive = HttpServer.serve(router).pipe(HttpServer.withLogAddress, Layer.provide(NodeServerLive))

NodeRuntime.runMain(Layer.launch(ServerLive))
