import {
  FileSystem,
  HttpApiBuilder,
  HttpApp,
  HttpIncomingMessage,
  HttpMiddleware,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse,
  HttpTraceContext
} from "@effect/platform"
import { Chunk, Context, Effect, type Fiber, FiberRef, Layer, Option, Tracer } from "effect"
import { randomUUID } from "node:crypto"
import { AppConfig } from "../layers/AppConfig.ts"
import { currentRequestLog, type RequestLogContext } from "../layers/Logging.ts"
import { Metrics } from "../layers/Metrics.ts"
import { normalizeMethod, type RequestStats, UNMATCHED_ROUTE } from "../layers/RequestStats.ts"

/**
 * Request instrumentation in one place: request id, duration, route template, status class and error
 * tag, recorded once per request when the API answers, plus which requests get a server span.
 *
 * The route template is only known inside the router, after the outer middleware has started, so each
 * route is wrapped (once, at start-up) to write its own template into the request's observation; the
 * API middleware writes the `_tag` of any error it answers with. Requests no route matched keep the
 * `unmatched` label, so raw paths never become label values.
 *
 * The observation is the request's only per-request FiberRef write: it also carries the request id to
 * the logger (see `currentRequestLog`), instead of an `Effect.annotateLogs` on every request.
 */
class Observation implements RequestLogContext {
  route: string = UNMATCHED_ROUTE
  errorTag: string | undefined = undefined
  constructor(
    readonly requestId: string,
    readonly started: number
  ) {}
}

const observationOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Observation | undefined => {
  const current = fiber.getFiberRef(currentRequestLog)
  return current instanceof Observation ? current : undefined
}

/** Called by the API middleware with every error it answers with, to count errors by `_tag`. */
export const noteErrorTag = (error: unknown): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    const observation = observationOf(fiber)
    if (observation !== undefined && typeof error === "object" && error !== null && "_tag" in error) {
      observation.errorTag = String(error._tag)
    }
    return Effect.void
  })

const noteRoute = (route: string) =>
  Effect.withFiberRuntime<void>((fiber) => {
    const observation = observationOf(fiber)
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
 * instance behind the load balancer answered) and, when monitoring is on, is counted under its method,
 * route template and status class. The start time comes from `performance.now()`, not the Effect clock:
 * it is read twice per request on the hot path.
 *
 * It wraps the API's app itself, not the server (a server middleware runs after the response has been
 * written). The API answers every request it routes with a response (its errors are encoded by the
 * builder), so the observation is finished in the success continuation: no pre-response handler (a
 * FiberRef update and a closure per request) on the hot path. Only a failure that escapes the API,
 * which the platform turns into a response later, registers one, so that response is counted and
 * identified too.
 *
 * `untraced` requests (probes, and requests the edge sampler dropped) run with the tracer disabled, so a
 * span opened in a handler or a layer neither becomes an orphan root trace nor costs anything.
 */
const observe = (
  instanceId: string,
  stats: RequestStats | undefined,
  countError: (method: string, route: string, tag: string) => void,
  tracing: boolean
) => {
  const finish = (
    request: HttpServerRequest.HttpServerRequest,
    observation: Observation,
    response: HttpServerResponse.HttpServerResponse
  ): HttpServerResponse.HttpServerResponse => {
    if (stats !== undefined) {
      const ended = performance.now()
      stats.record(
        request.method,
        observation.route,
        response.status,
        ended - observation.started,
        performance.timeOrigin + ended
      )
      if (observation.errorTag !== undefined) {
        countError(normalizeMethod(request.method), observation.route, observation.errorTag)
      }
    }
    return HttpServerResponse.setHeaders(response, {
      "x-request-id": observation.requestId,
      "x-instance-id": instanceId
    })
  }
  return <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const observation = new Observation(requestIdOf(request), performance.now())
      const observed = FiberRef.set(currentRequestLog, observation).pipe(
        Effect.zipRight(app),
        Effect.matchCauseEffect({
          onSuccess: (response) => Effect.succeed(finish(request, observation, response)),
          onFailure: (cause) =>
            Effect.zipRight(
              HttpApp.appendPreResponseHandler((request, response) =>
                Effect.succeed(finish(request, observation, response))
              ),
              Effect.failCause(cause)
            )
        })
      )
      // The platform's tracer middleware runs first: no parent span here means it decided not to trace.
      const traced = tracing && Option.isSome(Context.getOption(fiber.currentContext, Tracer.ParentSpan))
      return tracing && !traced
        ? Effect.zipRight(FiberRef.set(FiberRef.currentTracerEnabled, false), observed)
        : observed
    })
}

const isUnder = (url: string, prefix: string) =>
  url.startsWith(prefix) &&
  (url.length === prefix.length || url[prefix.length] === "/" || url[prefix.length] === "?")

/** Probes and scrapes arrive every few seconds and say nothing about the work: they get no span. */
export const isUntraced = (request: HttpServerRequest.HttpServerRequest): boolean =>
  isUnder(request.url, "/health") || isUnder(request.url, "/metrics")

/**
 * The parent-based ratio sampler, applied at the edge before any span exists: a request carrying a
 * trace context follows its caller's decision, a new one is traced with probability `ratio`. Deciding
 * here rather than in the OTel sampler matters for cost: an unsampled OTel span is still an Effect span
 * with request and response attributes, and its fiber still switches context on every resume. The
 * tracer provider records every server span let through (see `Telemetry.ts`).
 */
export const sampledAtEdge =
  (ratio: number) =>
  (request: HttpServerRequest.HttpServerRequest): boolean =>
    Option.match(HttpTraceContext.fromHeaders(request.headers), {
      onNone: () => ratio >= 1 || (ratio > 0 && Math.random() < ratio),
      onSome: (parent) => parent.sampled
    })

/**
 * `HttpApiBuilder.serve` with route labelling and the observing middleware. Without an OTLP endpoint the
 * tracer is off for the whole server (no span objects at all: nobody would receive them). The body size
 * limit is set once for the server's runtime rather than per request.
 */
export const serveObserved = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const metrics = yield* Metrics
    const countError = (method: string, route: string, tag: string) =>
      metrics.http.errors.inc({ method, route, tag })
    const tracing = Option.isSome(config.otel.endpoint)
    const observed = observe(
      config.http.instanceId,
      config.monitor.enabled ? metrics.http.stats : undefined,
      countError,
      tracing
    )
    const sampled = sampledAtEdge(config.otel.sampleRatio)
    const layer = HttpApiBuilder.httpApp.pipe(
      Effect.map((app) => HttpServer.serve(observed(app))),
      Layer.unwrapEffect,
      Layer.provide([LabelledRouter, HttpApiBuilder.Middleware.layer]),
      Layer.provide(
        Layer.succeed(HttpIncomingMessage.MaxBodySize, Option.some(FileSystem.Size(config.http.maxBodyBytes)))
      ),
      HttpMiddleware.withTracerDisabledWhen(
        tracing ? (request) => isUntraced(request) || !sampled(request) : () => true
      )
    )
    return tracing ? layer : Layer.locally(layer, FiberRef.currentTracerEnabled, false)
  })
)
