/**
 * Ladder rung 2b: rung 2 (`effect.ts`: one `HttpRouter` route, a constant JSON response) served through
 * FocusForge's Node adapter (`src/http/NodeAdapter.ts`) instead of the platform's `NodeHttpServer`
 * layer, so the adapter's share of the per-request cost is read off side by side.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as NodeAdapter from "../../src/http/NodeAdapter.ts"

const Routes = HttpRouter.add("GET", "/health/live", HttpServerResponse.jsonUnsafe({ status: "ok" }))

const NodeServerLive = NodeAdapter.layer({
  port: Number(process.env.PORT ?? 0),
  host: "127.0.0.1",
  backlog: 4096
})

const ServerLive = HttpRouter.serve(Routes, { disableLogger: true }).pipe(Layer.provide(NodeServerLive))

NodeRuntime.runMain(Layer.launch(ServerLive))
