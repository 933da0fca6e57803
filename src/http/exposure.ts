/**
 * What the app shows to whom, on its own (it may run without nginx in front): security headers on
 * every answer, operator details only for the holder of `METRICS_TOKEN`, and CORS only for the origins
 * `CORS_ORIGINS` lists.
 */
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import { HttpMiddleware, HttpRouter, HttpServerRequest, type HttpServerResponse } from "effect/http"
import type * as Http from "node:http"
import { timingSafeEqual } from "node:crypto"
import { describeConfigError, InvalidConfig } from "../layers/config/AppConfig.ts"

// ---------------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------------

/** The docs UI: one page that only changes with a release, so browsers may keep it. */
const isDocs = (url: string | undefined): boolean =>
  url !== undefined && (url === "/docs" || url.startsWith("/docs/") || url.startsWith("/docs?"))

/**
 * Sets the security headers on every response of a `node:http` server, before the app writes its
 * own: Node merges them into the head it sends, so answers the app builds outside any route (404, 413,
 * a defect's 500) carry them too. API answers are user data: nothing may cache them (`no-store`), a
 * browser may not sniff a JSON body into something it runs (`nosniff`), and no URL with ids in it
 * leaks to another site as a referrer.
 */
export const addSecurityHeaders = (server: Http.Server): void => {
  server.prependListener("request", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    response.setHeader("x-content-type-options", "nosniff")
    response.setHeader("referrer-policy", "no-referrer")
    if (!isDocs(request.url)) response.setHeader("cache-control", "no-store")
  })
}

// ---------------------------------------------------------------------------------------------------
// Operator details
// ---------------------------------------------------------------------------------------------------

/** Constant-time comparison, so response timing does not reveal how much of a guess was right. */
export const sameToken = (given: string, expected: string): boolean => {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

const BEARER = /^Bearer\s+(.+)$/i

/**
 * Whether a request may see operator details (`/health` component details, `/orchestrator/status`
 * beyond its summary): with no `METRICS_TOKEN` configured everyone may (embedded mode; production
 * refuses to start without one), otherwise only `Authorization: Bearer <METRICS_TOKEN>`.
 */
export const isOperator = (
  token: Option.Option<Redacted.Redacted<string>>,
  request: HttpServerRequest.HttpServerRequest
): boolean =>
  Option.match(token, {
    onNone: () => true,
    onSome: (expected) => {
      const given = BEARER.exec(request.headers.authorization ?? "")?.[1]
      return given !== undefined && sameToken(given.trim(), Redacted.value(expected))
    }
  })

// ---------------------------------------------------------------------------------------------------
// CORS
// ---------------------------------------------------------------------------------------------------

/** `scheme://host[:port]` exactly as a browser sends it in `Origin` (no path, no trailing slash). */
const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/

/** `CORS_ORIGINS`: a comma-separated allow-list of origins; unset or empty means CORS is off. */
export const loadCorsOrigins: Effect.Effect<ReadonlyArray<string>, InvalidConfig> = Effect.gen(function* () {
  const raw = yield* Config.String("CORS_ORIGINS").pipe(
    Config.withDefault(""),
    Effect.mapError(
      (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
    )
  )
  const origins = raw
    .split(",")
    .map((origin) => origin.trim())
    .filter((origin) => origin !== "")
  const invalid = origins.filter((origin) => !ORIGIN.test(origin))
  if (invalid.length > 0) {
    return yield* new InvalidConfig({
      message: `Invalid configuration: CORS_ORIGINS: ${invalid.map((o) => JSON.stringify(o)).join(", ")} is not an origin (expected scheme://host[:port], comma-separated; no wildcard)`
    })
  }
  return origins
})

/** What a browser client of the API sends and may read. Bearer tokens, not cookies: no credentials. */
const CORS_OPTIONS = {
  allowedMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
  allowedHeaders: ["authorization", "content-type", "idempotency-key", "x-request-id"],
  exposedHeaders: ["x-request-id", "retry-after"],
  maxAge: 600,
  credentials: false
}

/**
 * The platform's CORS middleware for the listed origins. A preflight (`OPTIONS`) from any other origin,
 * or without one, is not answered as a preflight: it reaches the router like any request (404).
 */
export const corsMiddleware = (origins: ReadonlyArray<string>) => {
  const allowed = new Set(origins)
  const platform = HttpMiddleware.cors({ ...CORS_OPTIONS, allowedOrigins: (origin) => allowed.has(origin) })
  return <E, R>(
    httpEffect: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.withFiber((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const origin = request.headers.origin
      if (request.method === "OPTIONS" && (origin === undefined || !allowed.has(origin))) return httpEffect
      return platform(httpEffect)
    })
}

/** CORS for the server's routes when `CORS_ORIGINS` lists origins; nothing at all otherwise. */
export const CorsLive = Layer.unwrap(
  Effect.map(loadCorsOrigins, (origins) =>
    origins.length === 0 ? Layer.empty : HttpRouter.middleware(corsMiddleware(origins), { global: true })
  )
)
