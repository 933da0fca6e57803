import { ByteSize, Context, Effect, Layer, Option, References, Tracer, type Types } from "effect"
import {
  HttpEffect,
  HttpIncomingMessage,
  HttpMiddleware,
  HttpRouter,
  HttpServerRequest,
  HttpServerResponse,
  HttpTraceContext
} from "effect/http"
import { randomUUID } from "node:crypto"
import { AppConfig } from "../layers/config/AppConfig.ts"
import { AccessLogEnabled, currentRequestLog } from "../layers/observability/Logging.ts"
import { Metrics } from "../layers/observability/Metrics.ts"
import { normalizeMethod, type RequestStats } from "../layers/observability/RequestStats.ts"
import { answerOutsideApi, refuseDeclaredOversize } from "./middleware.ts"
import { Observation, observationOf } from "./observation.ts"

export { noteErrorTag } from "./observation.ts"

/**
 * Request instrumentation in one place: request id, duration, route template, status class and error
 * tag, recorded once per request when it is answered, plus which requests get a server span.
 *
 * The route template is only known inside the router, after the observing middleware has started, so a
 * route middleware (applied to each route once, at start-up) writes the matched template into the
 * request's observation; the API's `ErrorEnvelope` middleware writes the `_tag` of any error it answers
 * with (see `Observation`).
 */
const labelRoute = HttpRouter.middleware(
  (effect): Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled> =>
    Effect.withFiber((fiber) => {
      const observation = observationOf(fiber)
      if (observation !== undefined) {
        const matched = Context.getOrUndefined(fiber.context, HttpRouter.RouteContext)
        if (matched !== undefined) observation.route = matched.route.path
      }
      return effect
    })
)

/** Provide to route layers (the API's, the docs') so every route labels its requests with its template. */
export const RouteLabels = labelRoute.layer

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const requestIdOf = (request: HttpServerRequest.HttpServerRequest): string => {
  const incoming = request.headers["x-request-id"]
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID()
}

interface ObserveOptions {
  readonly instanceId: string
  readonly accessLog: boolean
  readonly stats: RequestStats | undefined
  readonly countError: (method: string, route: string, tag: string) => void
  readonly tracing: boolean
  readonly maxBodyBytes: number
}

/**
 * Every response carries `x-request-id` (the client's when it sent a sane one) and `x-instance-id` (which
 * instance behind the load balancer answered) and, when monitoring is on, is counted under its method,
 * route template and status class. The start time comes from `performance.now()`, not the Effect clock:
 * it is read twice per request on the hot path.
 *
 * It is the router's global middleware, so it also sees requests no route matched: those, bodies
 * declared over the limit, and defects that escaped every route are answered here in the envelope.
 * The observation is finished in the success continuation; only an interruption (a client that went
 * away), which the platform answers later, registers a pre-response handler, so that response is
 * counted and identified too. With ACCESS_LOG on, that is also where its access-log line is written.
 *
 * `untraced` requests (probes, and requests the edge sampler dropped) run with the tracer disabled, so a
 * span opened in a handler or a layer neither becomes an orphan root trace nor costs anything.
 */
const observe = (options: ObserveOptions) => {
  const { instanceId, accessLog, stats, countError, tracing, maxBodyBytes } = options
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
  // Chosen once: with the access log off a request pays nothing for it, not even a check.
  const respond: (
    request: HttpServerRequest.HttpServerRequest,
    observation: Observation,
    response: HttpServerResponse.HttpServerResponse
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse> = accessLog
    ? (request, observation, response) => {
        const finished = finish(request, observation, response)
        return Effect.as(logAccess(request, observation, finished.status), finished)
      }
    : (request, observation, response) => Effect.succeed(finish(request, observation, response))
  return (
    httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled>
  ): Effect.Effect<
    HttpServerResponse.HttpServerResponse,
    Types.unhandled,
    HttpServerRequest.HttpServerRequest
  > =>
    Effect.withFiber((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const observation = new Observation(requestIdOf(request), performance.now())
      const declared = request.headers["content-length"]
      let app = httpEffect
      if (declared !== undefined && Number(declared) > maxBodyBytes) {
        observation.errorTag = "PayloadTooLarge"
        app = refuseDeclaredOversize(request, declared, maxBodyBytes)
      }
      const answered = Effect.matchCauseEffect(app, {
        onSuccess: (response) => respond(request, observation, response),
        onFailure: (cause) => {
          const answer = answerOutsideApi(cause, request)
          if (answer === undefined) {
            return Effect.andThen(
              HttpEffect.appendPreResponseHandler((request, response) =>
                respond(request, observation, response)
              ),
              Effect.failCause(cause)
            )
          }
          return Effect.flatMap(answer, ({ response, tag }) => {
            observation.errorTag = tag
            return respond(request, observation, response)
          })
        }
      })
      const observed = Effect.provideService(answered, currentRequestLog, observation)
      if (!tracing) return observed
      // The platform's tracer middleware runs first: no parent span here means it decided not to trace.
      const span = Context.getOrUndefined(fiber.context, Tracer.ParentSpan)
      if (span === undefined) return Effect.withTracerEnabled(observed, false)
      if (span._tag === "Span" && span.sampled) addProtocolVersion(span, request)
      return observed
    })
}

/**
 * The access log's line: `GET /api/v1/tasks 200 3.2 ms`, with the same fields as annotations (the query
 * string is left out: it is the client's, and may carry what should not sit in a log). It goes through the
 * logger, so LOG_FORMAT and LOG_LEVEL apply and a JSON line carries `request_id` like any request line.
 */
const logAccess = (
  request: HttpServerRequest.HttpServerRequest,
  observation: Observation,
  status: number
): Effect.Effect<void> => {
  const query = request.url.indexOf("?")
  const path = query === -1 ? request.url : request.url.slice(0, query)
  const durationMs = Math.round((performance.now() - observation.started) * 10) / 10
  return Effect.logInfo(`${request.method} ${path} ${status} ${durationMs} ms`).pipe(
    Effect.annotateLogs({
      method: request.method,
      path,
      status,
      duration_ms: durationMs,
      request_id: observation.requestId
    })
  )
}

/**
 * `network.protocol.version` (`1.1`, `2`), the one stable HTTP server attribute the platform's tracer does
 * not record: only the Node request knows it.
 */
const addProtocolVersion = (span: Tracer.Span, request: HttpServerRequest.HttpServerRequest) => {
  const source: unknown = request.source
  if (typeof source === "object" && source !== null && "httpVersion" in source) {
    const version = source.httpVersion
    if (typeof version === "string") span.attribute("network.protocol.version", version)
  }
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
 *
 * The platform asks more than once per request whether its tracer is disabled, so a random decision is
 * remembered per request: asked twice, it must answer the same.
 */
export const sampledAtEdge = (ratio: number) => {
  // Every decision is remembered, the caller's too: the trace headers are parsed once per request.
  const decided = new WeakMap<HttpServerRequest.HttpServerRequest, boolean>()
  return (request: HttpServerRequest.HttpServerRequest): boolean => {
    const known = decided.get(request)
    if (known !== undefined) return known
    const sampled = Option.match(HttpTraceContext.fromHeaders(request.headers), {
      onNone: () => (ratio >= 1 ? true : ratio <= 0 ? false : Math.random() < ratio),
      onSome: (parent) => parent.sampled
    })
    decided.set(request, sampled)
    return sampled
  }
}

/**
 * `HttpRouter.serve` of the given routes with route labelling and the observing middleware. Without an
 * OTLP endpoint the tracer is off for the whole server (no span objects at all: nobody would receive
 * them). The body size limit is set once for the server's requests rather than per request. The
 * platform's request logger stays off: the access log (ACCESS_LOG) is ours, written when the observation
 * finishes, with the request id and duration the platform's does not have.
 */
export const serveObserved = <E, R>(routes: Layer.Layer<never, E, R>) =>
  Layer.unwrap(
    Effect.gen(function* () {
      const config = yield* AppConfig
      const metrics = yield* Metrics
      const accessLog = yield* AccessLogEnabled
      const tracing = Option.isSome(config.otel.endpoint)
      const observing = HttpRouter.middleware(
        observe({
          instanceId: config.http.instanceId,
          accessLog,
          stats: config.monitor.enabled ? metrics.http.stats : undefined,
          countError: (method, route, tag) => metrics.http.errors.inc({ method, route, tag }),
          tracing,
          maxBodyBytes: config.http.maxBodyBytes
        }),
        { global: true }
      )
      const sampled = sampledAtEdge(config.otel.sampleRatio)
      const served = HttpRouter.serve(Layer.mergeAll(Layer.provide(routes, RouteLabels), observing), {
        disableLogger: true
      }).pipe(
        Layer.provide([
          Layer.succeed(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(config.http.maxBodyBytes)),
          Layer.succeed(
            HttpMiddleware.TracerDisabledWhen,
            tracing
              ? (request: HttpServerRequest.HttpServerRequest) => isUntraced(request) || !sampled(request)
              : () => true
          )
        ])
      )
      return tracing ? served : Layer.provide(served, Layer.succeed(References.TracerEnabled, false))
    })
  )
