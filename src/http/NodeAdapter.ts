/**
 * The Node HTTP server FocusForge serves on: the platform's own `NodeHttpServer` (Effect 4), on a
 * `node:http` server we create, so its settings and its shutdown stay ours.
 *
 * Effect 3 needed a hand-written adapter here (a request forked with a second Context copy and two
 * FiberRef writes, every in-memory body awaited through an extra `Effect.async`). Effect 4's
 * `NodeHttpServer` forks each request straight into its context and ends bodies under 1 MB without
 * waiting for the flush, which is what the adapter did, so it is no longer needed. What remains ours:
 *
 * - keep-alive longer than nginx's upstream keepalive_timeout (60 s), so the proxy, not Node, closes
 *   idle sockets; headers timeout just above it;
 * - a listen backlog of 4096 (Node's 511 overflows under a burst of new connections);
 * - closing: `make` leaves it to the caller (the application's drain on SIGTERM decides how the server
 *   closes; the platform's own pre-emptive shutdown is off), `layer` closes its fresh server on release.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, type Scope } from "effect"
import { HttpServer, type HttpServerError } from "effect/http"
import * as Http from "node:http"

// Longer than nginx's upstream keepalive_timeout (60 s) so the proxy, not Node, closes idle sockets.
export const KEEP_ALIVE_TIMEOUT_MS = 65_000

export interface ListenOptions {
  readonly port: number
  readonly host: string
  readonly backlog: number
}

/** A `node:http` server with FocusForge's keep-alive and header timeouts. */
export const createServer = (): Http.Server => {
  const server = Http.createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS })
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000
  return server
}

/**
 * Listens on `options` and serves apps on `server` through the platform's `NodeHttpServer`. Draining the
 * server is the caller's finalizer (the platform still closes it when the scope ends, a no-op once
 * drained); the platform's services for the rest of the context come from
 * `NodeHttpServer.layerHttpServices`.
 */
export const make = (
  server: Http.Server,
  options: ListenOptions
): Effect.Effect<HttpServer.HttpServer["Service"], HttpServerError.ServeError, Scope.Scope> =>
  NodeHttpServer.make(() => server, {
    port: options.port,
    host: options.host,
    backlog: options.backlog,
    disablePreemptiveShutdown: true
  })

/**
 * The server as a layer for a fresh `node:http` server that is closed when the layer is released, with
 * the platform's Node services. The application server uses `make` instead, because its drain on
 * SIGTERM decides how the server closes.
 */
export const layer = (options: ListenOptions) =>
  Layer.effect(
    HttpServer.HttpServer,
    Effect.suspend(() => make(createServer(), options))
  ).pipe(Layer.merge(NodeHttpServer.layerHttpServices))
