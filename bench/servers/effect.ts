/**
 * Ladder rung 2: the smallest Effect server, `NodeHttpServer` with one `HttpRouter` route and a
 * constant JSON response. No HttpApi, no Schema, no middleware of ours.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Layer } from "effect"
import * as Http from "node:http"

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/health/live", HttpServerResponse.unsafeJson({ status: "ok" }))
)

const ServerLive = HttpServer.serve(router).pipe(
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
