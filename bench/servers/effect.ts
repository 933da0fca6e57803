/**
 * Ladder rung 2: the smallest Effect server, `NodeHttpServer` with one `HttpRouter` route and a
 * constant JSON response. No HttpApi, no Schema, no middleware of ours (the router's request logger
 * off, as Effect 3's `HttpServer.serve(router)` had none).
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as Http from "node:http"

const Routes = HttpRouter.add("GET", "/health/live", HttpServerResponse.jsonUnsafe({ status: "ok" }))

const ServerLive = HttpRouter.serve(Routes, { disableLogger: true }).pipe(
  Layer.provide(
    NodeHttpServer.layer(() => Http.createServer({ keepAliveTimeout: 65_000 }), {
      port: Number(process.env.PORT ?? 0),
      host: "127.0.0.1",
      backlog: 4096
    })
  )
)

NodeRuntime.runMain(Layer.launch(ServerLive))
