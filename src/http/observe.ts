import {
  HttpApiBuilder,
  HttpApp,
  HttpMiddleware,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Chunk, Context, Effect, FiberRef, Layer, Option } from "effect"
import { globalValue } from "effect/GlobalValue"
import { randomUUID } from "node:crypto"
import { AppConfig } from "../layers/AppConfig.ts"
import { Metrics } from "../layers/Metrics.ts"
import { normalizeMethod, type RequestStats, UNMATCHED_ROUTE } from "../layers/RequestStats.ts"

/**
 * Request instrumentation in one place: request id, duration, route template, status class and error
 * tag, recorded by a single pre-response handler per request, plus which requests get a server span.
 *
 * The route template is only known inside the router, after the outer middleware has started, so each
 * route is wrapped (once, at start-up) to write its own template into the request's observation; the
 * API middleware writes the `_tag` of any error it answers with. Requests no route matched keep the
 * `unmatched` label, so raw paths never become label values.
 */
class Observation {
  route: string = UNMATCHED_ROUTE
  errorTag: string | undefined = undefined
}

const currentObservation = globalValue(Symbol.for("focusforge/http/currentObservation"), () =>
  FiberRef.unsafeMake<Observation | undefined>(undefined)
)

/** Called by the API middleware with every error it answers with, to count errors by `_tag`. */
export const noteErrorTag = (error: unknown): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const observation = fiber.getFiberRef(currentObservation)
    if (observation !== undefined && typeof error === "object" && error !== null && "_tag" in error) {
      observation.errorTag = String(error._tag)
    }
    return Effect.void
  })

const noteRoute = (route: string) =>
  Effect.withFiberRuntime<void>((fiber) => {
    const observation = fiber.getFiberRef(currentObservation)
    if (observation !== undefined) observation.route = route
    return Effect.void
  })

const labelRoutes = <E, R>(router: HttpRouter.HttpRouter<E, R>): HttpRouter.HttpRouter<E, R> => {
  const labelled = HttpRouter.fromIterable(
    Chunk.map(router.routes, (route) =>
      HttpRouter.makeRoute(route.method, route.path, Effect.zipRight(noteRoute(route.path), route.handler), {
        prefix: Option.getOrUndefined(route.prefix),
        uninterruptible: route.uninterruptible
      })
    )
  )
  return Chunk.reduce(router.mounts, labelled, (acc, [path, app, options]) =>
    HttpRouter.mountApp(acc, path as `/${string}`, Effect.zipRight(noteRoute(`${path}/*`), app), options)
  ) as HttpRouter.HttpRouter<E, R>
}

/**
 * The API builder's router, with every route labelled. Built on the builder's own `Router.Live` (layers
 * are memoised), so the groups that register routes into it and this view of it share one router.
 */
const LabelledRouter = Layer.effect(
  HttpApiBuilder.Router,
  Effect.map(HttpApiBuilder.Router, (service) => ({
    ...service,
    router: Effect.map(service.router, labelRoutes)
  }))
).pipe(Layer.provide(HttpApiBuilder.Router.Live))

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const requestIdOf = (request: HttpServerRequest.HttpServerRequest): string => {
  const incoming = request.headers["x-request-id"]
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID()
}

/**
 * Every response carries `x-request-id` (the client's when it sent a sane one) and `x-instance-id` (which
 * instance behind the load balancer answered) and, when monitoring is
 * on, is counted under its method, route template and status class. The start time comes from
 * `performance.now()`, not the Effect clock: it is read twice per request on the hot path.
 */
const observe = (
  instanceId: string,
  stats: RequestStats | undefined,
  countError: (method: string, route: string, tag: string) => void
) =>
  HttpMiddleware.make((app) =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const id = requestIdOf(request)
      const identify = (response: HttpServerResponse.HttpServerResponse) =>
        HttpServerResponse.setHeaders(response, { "x-request-id": id, "x-instance-id": instanceId })
      if (stats === undefined) {
        return Effect.zipRight(
          HttpApp.appendPreResponseHandler((_, response) => Effect.succeed(identify(response))),
          Effect.annotateLogs(app, "request_id", id)
        )
      }
      const started = performance.now()
      const observation = new Observation()
      // The response is written before a middleware's continuation runs, so recording happens in a
      // pre-response handler, which sees the final status whatever the request's outcome.
      const onResponse: HttpApp.PreResponseHandler = (_, response) => {
        const ended = performance.now()
        stats.record(
          request.method,
          observation.route,
          response.status,
          ended - started,
          performance.timeOrigin + ended
        )
        if (observation.errorTag !== undefined) {
          countError(normalizeMethod(request.method), observation.route, observation.errorTag)
        }
        return Effect.succeed(identify(response))
      }
      return FiberRef.set(currentObservation, observation).pipe(
        Effect.zipRight(HttpApp.appendPreResponseHandler(onResponse)),
        Effect.zipRight(Effect.annotateLogs(app, "request_id", id))
      )
    })
  )

const isUnder = (url: string, prefix: string) =>
  url.startsWith(prefix) &&
  (url.length === prefix.length || url[prefix.length] === "/" || url[prefix.length] === "?")

/** Probes and scrapes arrive every few seconds and say nothing about the work: they get no span. */
export const isUntraced = (request: HttpServerRequest.HttpServerRequest): boolean =>
  isUnder(request.url, "/health") || isUnder(request.url, "/metrics")

/**
 * `HttpApiBuilder.serve` with route labelling and the observing middleware. Without an OTLP endpoint no
 * server span is started at all: nobody would receive it.
 */
export const serveObserved = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const metrics = yield* Metrics
    const countError = (method: string, route: string, tag: string) =>
      metrics.http.errors.inc({ method, route, tag })
    const middleware = observe(
      config.http.instanceId,
      config.monitor.enabled ? metrics.http.stats : undefined,
      countError
    )
    const tracing = Option.isSome(config.otel.endpoint)
    return HttpApiBuilder.httpApp.pipe(
      Effect.map((app) => HttpServer.serve(app, middleware)),
      Layer.unwrapEffect,
      Layer.provide([LabelledRouter, HttpApiBuilder.Middleware.layer]),
      HttpMiddleware.withTracerDisabledWhen(tracing ? isUntraced : () => true)
    )
  })
)
