import { type HttpApi, HttpApiBuilder, HttpApiScalar, HttpServer } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import * as Http from "node:http"
import * as NodeAdapter from "./NodeAdapter.ts"
import { AppLayer } from "../AppLayer.ts"
import { EmbeddedJobsLive } from "../programs/orchestrator/BackgroundJobs.ts"
import { AppConfig } from "../layers/AppConfig.ts"
import { Health } from "../layers/Health.ts"
import { logReleased } from "../layers/Logging.ts"
import { FocusForgeApi } from "./Api.ts"
import { EmbeddedBackgroundLive } from "../programs/Programs.ts"
import { AuthHandlers } from "./handlers/auth.ts"
import { HealthHandlers } from "./handlers/health.ts"
import { MetricsHandlers } from "./handlers/metrics.ts"
import { OrchestratorHandlers, OrchestratorStatusHandlers } from "./handlers/orchestrator.ts"
import { MoodHandlers } from "./handlers/mood.ts"
import { AuthenticationLive } from "./handlers/security.ts"
import { StoreHandlers } from "./handlers/store.ts"
import { TasksHandlers } from "./handlers/tasks.ts"
import { ApiMiddlewareLive } from "./middleware.ts"
import { serveObserved } from "./observe.ts"

// Longer than nginx's upstream keepalive_timeout (60 s) so the proxy, not Node, closes idle sockets.
const KEEP_ALIVE_TIMEOUT_MS = 65_000
// Node's default (511) overflows under a burst of new connections; the kernel caps it at somaxconn.
const LISTEN_BACKLOG = 4096

/** The node:http server under the platform's HttpServer, for the drain that must run before it is unplugged. */
class NodeServer extends Context.Tag("NodeServer")<NodeServer, Http.Server>() {}

/**
 * Stop accepting, let in-flight requests finish up to the deadline, then cut whatever is left.
 * A request that still arrives on an open keep-alive connection is served, as the last one on that
 * connection (`Connection: close`); idle keep-alive sockets are closed as soon as they go idle so they do
 * not hold the drain open. A second signal during the drain exits at once.
 */
const drain = (server: Http.Server, deadlineMs: number) =>
  Effect.async<void>((resume) => {
    const forceExit = () => {
      process.stderr.write(
        `${JSON.stringify({ level: "WARN", message: "second signal: exiting without drain" })}\n`
      )
      process.exit(130)
    }
    const lastOnConnection = (_request: Http.IncomingMessage, response: Http.ServerResponse) => {
      response.shouldKeepAlive = false
    }
    process.once("SIGTERM", forceExit)
    process.once("SIGINT", forceExit)
    server.prependListener("request", lastOnConnection)
    const sweep = setInterval(() => server.closeIdleConnections(), 25)
    const deadline = setTimeout(() => server.closeAllConnections(), deadlineMs)
    server.close(() => {
      clearInterval(sweep)
      clearTimeout(deadline)
      server.off("request", lastOnConnection)
      process.off("SIGTERM", forceExit)
      process.off("SIGINT", forceExit)
      resume(Effect.void)
    })
  })

const NodeServerLive = Layer.scopedContext(
  Effect.gen(function* () {
    const config = yield* AppConfig
    yield* logReleased("http-server")
    const server = Http.createServer({ keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS })
    server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000
    const httpServer = yield* NodeAdapter.make(server, {
      port: config.port,
      host: config.host,
      backlog: LISTEN_BACKLOG
    })
    return Context.make(HttpServer.HttpServer, httpServer).pipe(Context.add(NodeServer, server))
  })
).pipe(Layer.merge(NodeHttpServer.layerContext))

/**
 * The drain, as a layer above the one that serves the app: layers are released in reverse order, so on
 * SIGTERM the drain runs while the app's request handler is still attached. (Run after it, requests that
 * arrive on kept-alive connections during the drain would find no handler and hang until the deadline.)
 */
const DrainOnShutdown = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const server = yield* NodeServer
    yield* Effect.addFinalizer(() =>
      Effect.logInfo("draining in-flight requests").pipe(
        Effect.annotateLogs("deadline_ms", config.http.drainTimeoutMs),
        Effect.zipRight(health.beginDrain),
        Effect.zipRight(drain(server, config.http.drainTimeoutMs))
      )
    )
  })
)

/** Every group's handlers and the authentication they sit behind; test servers reuse them. */
export const ApiHandlersLive = Layer.mergeAll(
  HealthHandlers,
  MetricsHandlers,
  AuthHandlers,
  TasksHandlers,
  MoodHandlers,
  StoreHandlers,
  OrchestratorHandlers,
  OrchestratorStatusHandlers
).pipe(Layer.provide(AuthenticationLive))

export const ApiLive = HttpApiBuilder.api(FocusForgeApi).pipe(Layer.provide(ApiHandlersLive))

type AppServices = Layer.Layer.Success<typeof AppLayer>

/**
 * The HTTP server for an API implementation, on top of the application layer graph. Parameterised by
 * the API so tests can serve the same stack with extra endpoints.
 */
export const makeServer = <E>(api: Layer.Layer<HttpApi.Api, E, AppServices>) =>
  DrainOnShutdown.pipe(
    Layer.provide(
      serveObserved.pipe(
        Layer.provide(HttpApiScalar.layer({ path: "/docs" })),
        Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
        Layer.provide(ApiMiddlewareLive),
        Layer.provide(api),
        HttpServer.withLogAddress
      )
    ),
    Layer.provide(NodeServerLive),
    Layer.provide(EmbeddedBackgroundLive),
    Layer.provide(EmbeddedJobsLive),
    Layer.provide(AppLayer)
  )

export const ServerLive = makeServer(ApiLive)
