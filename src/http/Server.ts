import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Scope } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { type HttpApi, HttpApiBuilder, type HttpApiGroup, HttpApiScalar } from "effect/http-api"
import type * as Http from "node:http"
import { AppLayer } from "../AppLayer.ts"
import { AppConfig, ConnectionLimitsConfig, readSetting } from "../layers/config/AppConfig.ts"
import { Health } from "../layers/observability/Health.ts"
import { logReleased } from "../layers/observability/Logging.ts"
import { EmbeddedJobsLive } from "../programs/orchestrator/BackgroundJobs.ts"
import { EmbeddedBackgroundLive, TaskReadModelDaemon } from "../programs/programs.ts"
import { MoodLog } from "../programs/mood.ts"
import { RewardStore } from "../programs/rewardStore.ts"
import { Tasks } from "../programs/tasks.ts"
import { FocusForgeApi } from "./Api.ts"
import { ErrorEnvelope } from "./api/Envelope.ts"
import {
  chooseEncoding,
  compressDocs,
  DOCS_CACHE_CONTROL,
  type DocsVariant,
  matchesEtag,
  withoutExternalFonts
} from "./docsPage.ts"
import { Authentication } from "./api/Security.ts"
import { AuthHandlers } from "./handlers/auth.ts"
import { HealthHandlers } from "./handlers/health.ts"
import { MetricsHandlers } from "./handlers/metrics.ts"
import { MoodHandlers } from "./handlers/mood.ts"
import { OrchestratorHandlers, OrchestratorStatusHandlers } from "./handlers/orchestrator.ts"
import { AuthenticationLive } from "./handlers/security.ts"
import { StoreHandlers } from "./handlers/store.ts"
import { TasksHandlers } from "./handlers/tasks.ts"
import { addSecurityHeaders, CorsLive } from "./exposure.ts"
import { ErrorEnvelopeLive } from "./middleware.ts"
import * as NodeAdapter from "./NodeAdapter.ts"
import { builtWithOnly } from "./narrowContext.ts"
import { serveObserved } from "./observe.ts"
import { StartupBannerLive } from "./startupBanner.ts"

// Node's default (511) overflows under a burst of new connections; the kernel caps it at somaxconn.
const LISTEN_BACKLOG = 4096

/** The node:http server under the platform's HttpServer, for the drain that must run before it is unplugged. */
class NodeServer extends Context.Service<NodeServer, Http.Server>()("NodeServer") {}

/**
 * Stop accepting, let in-flight requests finish up to the deadline, then cut whatever is left.
 * A request that still arrives on an open keep-alive connection is served, as the last one on that
 * connection (`Connection: close`); idle keep-alive sockets are closed as soon as they go idle so they do
 * not hold the drain open. A second signal during the drain exits at once.
 */
const drain = (server: Http.Server, deadlineMs: number) =>
  Effect.callback<void>((resume) => {
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

const NodeServerLive = Layer.effectContext(
  Effect.gen(function* () {
    const config = yield* AppConfig
    yield* logReleased("http-server")
    const server = NodeAdapter.createServer(yield* readSetting(ConnectionLimitsConfig))
    addSecurityHeaders(server)
    const httpServer = yield* NodeAdapter.make(server, {
      port: config.port,
      host: config.host,
      backlog: LISTEN_BACKLOG
    })
    return Context.make(HttpServer.HttpServer, httpServer).pipe(Context.add(NodeServer, server))
  })
).pipe(Layer.merge(NodeHttpServer.layerHttpServices))

/**
 * The drain, as a layer above the one that serves the app: layers are released in reverse order, so on
 * SIGTERM the drain runs while the app's request handler is still attached. (Run after it, requests that
 * arrive on kept-alive connections during the drain would find no handler and hang until the deadline.)
 */
const DrainOnShutdown = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const server = yield* NodeServer
    yield* Effect.addFinalizer(() =>
      Effect.logInfo("draining in-flight requests").pipe(
        Effect.annotateLogs("deadline_ms", config.http.drainTimeoutMs),
        Effect.andThen(health.beginDrain),
        Effect.andThen(drain(server, config.http.drainTimeoutMs))
      )
    )
  })
)

/**
 * Every group's handlers, the authentication they sit behind and the error envelope every endpoint
 * has; test servers reuse them.
 */
export const ApiHandlersLive = Layer.mergeAll(
  HealthHandlers,
  MetricsHandlers,
  AuthHandlers,
  // The groups on the hot request path, each built with only what it uses (see `builtWithOnly`).
  TasksHandlers.pipe(builtWithOnly(Tasks, Authentication, ErrorEnvelope)),
  MoodHandlers.pipe(builtWithOnly(MoodLog, Authentication, ErrorEnvelope)),
  StoreHandlers.pipe(builtWithOnly(RewardStore, Authentication, ErrorEnvelope)),
  OrchestratorHandlers,
  OrchestratorStatusHandlers
).pipe(Layer.provide([AuthenticationLive, ErrorEnvelopeLive]))

/**
 * The docs UI (Scalar) at `/docs`, built on its first request. Its page inlines Scalar's 3 MB script
 * (6 MB once in memory), which a server whose docs nobody opens should not hold from the start (about
 * 12 MB of idle RSS, BENCHMARKS.md "Start-up"). The first request also compresses it once (brotli and
 * gzip); every answer carries an ETag and `Cache-Control`, and a matching `If-None-Match` gets a 304.
 */
const lazyDocs = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>
) =>
  HttpRouter.use((router) =>
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      const variants = yield* Effect.cached(
        HttpRouter.toHttpEffect(
          HttpApiScalar.layer(api, { path: "/docs", scalar: { withDefaultFonts: false } })
        ).pipe(
          Scope.provide(scope),
          Effect.flatten,
          Effect.flatMap((page) => Effect.promise(() => compressDocs(withoutExternalFonts(pageText(page)))))
        )
      )
      yield* router.add(
        "GET",
        "/docs",
        Effect.gen(function* () {
          const request = yield* HttpServerRequest.HttpServerRequest
          const variant = (yield* variants)[chooseEncoding(request.headers["accept-encoding"])]
          return docsResponse(variant, request.headers["if-none-match"])
        })
      )
    })
  )

/** The HTML of the page Scalar's handler answers with. */
const pageText = (page: HttpServerResponse.HttpServerResponse): string =>
  page.body._tag === "Uint8Array" ? new TextDecoder().decode(page.body.body) : ""

const docsResponse = (variant: DocsVariant, ifNoneMatch: string | undefined) => {
  const headers = {
    etag: variant.etag,
    "cache-control": DOCS_CACHE_CONTROL,
    vary: "Accept-Encoding",
    ...(variant.encoding === "identity" ? {} : { "content-encoding": variant.encoding })
  }
  return matchesEtag(ifNoneMatch, variant.etag)
    ? HttpServerResponse.empty({ status: 304, headers })
    : HttpServerResponse.uint8Array(variant.body, { contentType: "text/html; charset=utf-8", headers })
}

/**
 * An API's routes: its endpoints (handled by `handlers`), its OpenAPI document, its docs UI, and CORS
 * for them when `CORS_ORIGINS` is set.
 */
const apiRoutes = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>
) =>
  Layer.mergeAll(
    HttpApiBuilder.layer(api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(handlers)),
    lazyDocs(api),
    CorsLive
  )

/**
 * The HTTP server for an API and its handlers, on top of the application layer graph. Parameterised by
 * the API so tests and benchmarks can serve the same stack with extra endpoints (their groups add
 * `ErrorEnvelope` as middleware, and their handlers `ErrorEnvelopeLive`).
 */
export const makeServer = <Id extends string, Groups extends HttpApiGroup.Constraint, E, R>(
  api: HttpApi.HttpApi<Id, Groups>,
  handlers: Layer.Layer<HttpApiGroup.ToService<Id, Groups>, E, R>
) =>
  Layer.merge(DrainOnShutdown, StartupBannerLive).pipe(
    Layer.provide(serveObserved(apiRoutes(api, handlers))),
    Layer.provide(NodeServerLive),
    Layer.provide(TaskReadModelDaemon),
    Layer.provide(EmbeddedBackgroundLive),
    Layer.provide(EmbeddedJobsLive),
    Layer.provide(AppLayer)
  )

export const ServerLive = makeServer(FocusForgeApi, ApiHandlersLive)
