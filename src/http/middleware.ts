import { NodeHttpServerRequest } from "@effect/platform-node"
import { Cause, Context, Effect, Layer, Option, Result, SchemaIssue } from "effect"
import { HttpEffect, HttpMethod, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { ErrorEnvelope } from "./api/Envelope.ts"
import {
  InternalError,
  MalformedRequest,
  NotFound,
  PayloadTooLarge,
  redactIssue,
  StoreUnavailable,
  ValidationError
} from "./errors.ts"
import { isStoreTimeout } from "../eventsourcing/EventStore.ts"
import { MAX_JSON_DEPTH, nestsDeeperThan } from "./jsonDepth.ts"
import { noteErrorTag } from "./observation.ts"

type EnvelopeError = ValidationError | MalformedRequest | NotFound | PayloadTooLarge | InternalError

/** The message `HttpApiBuilder` gives the schema issue of a JSON body that does not parse. */
const INVALID_JSON_BODY = "Expected a valid JSON body"

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()
const formatMessage = SchemaIssue.makeFormatterDefault()

const pathSegment = (segment: PropertyKey | { readonly key: PropertyKey }): string | number => {
  const key = typeof segment === "object" ? segment.key : segment
  return typeof key === "number" ? key : String(key)
}

const SLOT_NAMES: Record<HttpApiError.HttpApiSchemaError["kind"], string> = {
  Params: "path parameters",
  Headers: "headers",
  Query: "query parameters",
  Payload: "request body",
  Body: "response body",
  ResponseHeaders: "response headers"
}

/**
 * A request part that does not decode. `details.issues` has one `{ path, message }` per offending
 * value, the path relative to the part (`["name"]`, `["items", 0, "id"]`), as it was in Effect 3; the
 * message summarises them.
 */
export const validationError = (error: HttpApiError.HttpApiSchemaError): ValidationError => {
  try {
    return formattedValidationError(error)
  } catch {
    // Formatting walks the offending value; whatever it could not describe, the client still gets a 400.
    return new ValidationError({
      message: `Invalid ${SLOT_NAMES[error.kind]}`,
      details: { issues: [{ path: [], message: "The value could not be described" }] }
    })
  }
}

const formattedValidationError = (error: HttpApiError.HttpApiSchemaError): ValidationError => {
  // Secrets (passwords, tokens) are never echoed back: see `redactIssue`.
  const redacted = redactIssue(error.cause.issue)
  const issues = formatIssues(redacted).issues.map((issue) => ({
    path: (issue.path ?? []).map(pathSegment),
    message: issue.message
  }))
  return new ValidationError({
    message: `Invalid ${SLOT_NAMES[error.kind]}: ${formatMessage(redacted)}`,
    details: { issues }
  })
}

const isMalformedBody = (error: HttpApiError.HttpApiSchemaError): boolean => {
  const issue = error.cause.issue
  return (
    error.kind === "Payload" &&
    issue._tag === "InvalidValue" &&
    issue.annotations?.message === INVALID_JSON_BODY
  )
}

/** A body the server refused to read past its limit (`HttpIncomingMessage.MaxBodySize`), or could not read. */
const bodyReadError = (defect: unknown): Option.Option<PayloadTooLarge | MalformedRequest> => {
  if (!HttpServerError.isHttpServerError(defect) || defect.reason._tag !== "RequestParseError")
    return Option.none()
  return Option.some(
    defect.reason.reason === "BodyTooLarge"
      ? new PayloadTooLarge({ message: "Request body exceeds the size limit" })
      : new MalformedRequest({ message: "Request body could not be read" })
  )
}

const unexpected = (cause: Cause.Cause<unknown>): Effect.Effect<never, InternalError> =>
  Effect.logError("Unhandled defect", cause).pipe(
    Effect.andThen(Effect.fail(new InternalError({ message: "Internal server error" })))
  )

/**
 * Every failure on the way to and out of a handler, in our envelope: a request part that does not
 * decode is a `ValidationError` (a body that is not JSON a `MalformedRequest`), a body over the limit a
 * `PayloadTooLarge`, an event store that ran out of time a 503 `StoreUnavailable` with `Retry-After`,
 * and any other defect an `InternalError` (logged with its cause, never shown to the client). The
 * endpoint's declared errors pass through; the builder encodes them with its schema.
 */
const toEnvelope = <E>(cause: Cause.Cause<E>): Effect.Effect<never, E | EnvelopeError | StoreUnavailable> => {
  if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) {
    const error: unknown = failure.value
    if (HttpApiError.HttpApiSchemaError.is(error)) {
      if (error.kind === "Body" || error.kind === "ResponseHeaders") return unexpected(cause)
      return Effect.fail(
        isMalformedBody(error)
          ? new MalformedRequest({ message: "Request body is not valid JSON" })
          : validationError(error)
      )
    }
    return Effect.failCause(cause)
  }
  const defect = Cause.findDefect(cause)
  if (Result.isSuccess(defect)) {
    const known = bodyReadError(defect.success)
    if (Option.isSome(known)) return Effect.fail(known.value)
    // Programs turn store failures into defects (`storeFailuresAsDefects`); one that only ran out of
    // time is the client's cue to come back, not a bug.
    if (isStoreTimeout(defect.success)) return storeTimedOut
  }
  return unexpected(cause)
}

/** How long a client waits before retrying a request the event store did not answer in time. */
export const STORE_TIMEOUT_RETRY_AFTER_SECONDS = 1

const storeTimedOut: Effect.Effect<never, StoreUnavailable> = Effect.withFiber((fiber) => {
  // The request's own context is the fiber's here, as in `refuseDeepJson`.
  HttpEffect.appendPreResponseHandlerUnsafe(fiber.context, (_, response) =>
    Effect.succeed(
      HttpServerResponse.setHeader(response, "retry-after", String(STORE_TIMEOUT_RETRY_AFTER_SECONDS))
    )
  )
  return Effect.fail(
    new StoreUnavailable({
      message: `The event store did not answer in time; retry after ${STORE_TIMEOUT_RETRY_AFTER_SECONDS} s`,
      details: { retry_after_seconds: STORE_TIMEOUT_RETRY_AFTER_SECONDS }
    })
  )
})

/**
 * A body in a media type the endpoint does not accept: Effect 3 decoded it as text and answered the
 * schema mismatch with a `ValidationError`, Effect 4 answers a bare 415. The envelope stays.
 */
const unsupportedMediaType = (): ValidationError =>
  new ValidationError({
    message: "Invalid request body: expected a JSON body (content-type: application/json)",
    details: { issues: [{ path: [], message: "Expected a JSON body (content-type: application/json)" }] }
  })

const UNSUPPORTED_MEDIA_TYPE = 415

const JSON_MEDIA_TYPE = "application/json"

/** The media type of a request's body as the API's decoder sees it (no content-type means JSON). */
const mediaTypeOf = (request: HttpServerRequest.HttpServerRequest): string => {
  const declared = (request.headers["content-type"] ?? JSON_MEDIA_TYPE).toLowerCase()
  const parameters = declared.indexOf(";")
  return (parameters === -1 ? declared : declared.slice(0, parameters)).trim()
}

/**
 * A JSON body nested deeper than `MAX_JSON_DEPTH` is refused (400 `MalformedRequest`) before it is
 * parsed: one linear scan of the text the decoder reads next (the platform caches the body, so it is
 * read once). Bodies of other media types are left to the endpoint, which refuses them.
 */
const refuseDeepJson = Effect.withFiber((fiber): Effect.Effect<void, MalformedRequest> => {
  const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
  if (!HttpMethod.hasBody(request.method) || mediaTypeOf(request) !== JSON_MEDIA_TYPE) return Effect.void
  return Effect.flatMap(Effect.orDie(request.text), (text) =>
    nestsDeeperThan(text, MAX_JSON_DEPTH)
      ? Effect.fail(
          new MalformedRequest({
            message: `Request body nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels`,
            details: { max_depth: MAX_JSON_DEPTH }
          })
        )
      : Effect.void
  )
})

/**
 * The `ErrorEnvelope` middleware of every endpoint: refuses over-deep JSON before decoding, answers
 * every failure in the envelope, and counts every error by `_tag`.
 */
export const ErrorEnvelopeLive = Layer.succeed(ErrorEnvelope, (httpEffect) =>
  Effect.andThen(refuseDeepJson, httpEffect).pipe(
    Effect.flatMap((response) =>
      response.status === UNSUPPORTED_MEDIA_TYPE
        ? Effect.fail(unsupportedMediaType())
        : Effect.succeed(response)
    ),
    Effect.catchCause(toEnvelope),
    Effect.tapError(noteErrorTag)
  )
)

// ---------------------------------------------------------------------------------------------------
// Outside the API: before a route is matched, and for requests no route matches.
// ---------------------------------------------------------------------------------------------------

/** The envelope of an error answered outside any endpoint (no endpoint schema to encode it). */
export const envelopeResponse = (
  error: NotFound | PayloadTooLarge | InternalError,
  status: number
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(
    error.details === undefined
      ? { _tag: error._tag, message: error.message }
      : { _tag: error._tag, message: error.message, details: error.details },
    { status }
  )

/**
 * The answer to a failure that escaped every route: no route for the request (404 `NotFound`), a body
 * the server could not read, or a defect (500 `InternalError`, logged). `undefined` for an interruption,
 * which has no answer.
 */
export const answerOutsideApi = (
  cause: Cause.Cause<unknown>,
  request: HttpServerRequest.HttpServerRequest
):
  | Effect.Effect<{ readonly response: HttpServerResponse.HttpServerResponse; readonly tag: string }>
  | undefined => {
  if (Cause.hasInterruptsOnly(cause)) return undefined
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) {
    const error: unknown = failure.value
    if (HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound") {
      const notFound = new NotFound({ message: `No route for ${request.method} ${request.url}` })
      return Effect.succeed({ response: envelopeResponse(notFound, 404), tag: notFound._tag })
    }
  }
  const defect = Cause.findDefect(cause)
  if (Result.isSuccess(defect)) {
    const known = bodyReadError(defect.success)
    if (Option.isSome(known)) {
      const error = known.value
      return Effect.succeed(
        error._tag === "PayloadTooLarge"
          ? { response: envelopeResponse(error, 413), tag: error._tag }
          : {
              response: HttpServerResponse.jsonUnsafe(
                { _tag: error._tag, message: error.message },
                { status: 400 }
              ),
              tag: error._tag
            }
      )
    }
  }
  return Effect.logError("Unhandled defect", cause).pipe(
    Effect.as({
      response: envelopeResponse(new InternalError({ message: "Internal server error" }), 500),
      tag: "InternalError"
    })
  )
}

/** The request's body as a Node readable, when the server is Node's (not a Web handler in tests). */
interface NodeBody {
  readonly socket: { destroy(): void } | null
  on(event: "data", listener: (chunk: Buffer) => void): unknown
  once(event: "end" | "close", listener: () => void): unknown
  off(event: string, listener: (...args: Array<never>) => void): unknown
  resume(): unknown
}

const nodeBodyOf = (request: HttpServerRequest.HttpServerRequest): NodeBody | undefined => {
  const source: unknown = NodeHttpServerRequest.toIncomingMessage(request)
  return typeof source === "object" && source !== null && "resume" in source && "on" in source
    ? // A Node IncomingMessage (HTTP/1.1 or HTTP/2 compatibility): both have the members above.
      (source as NodeBody)
    : undefined
}

/**
 * A 413 must reach a client that is still uploading. If the server answered and closed with the upload's
 * bytes unread, the kernel would answer them with a reset, and the reset can destroy the 413 before the
 * client reads it. So the upload is read to its end and dropped (never buffered) before answering,
 * bounded: past 64 MiB, or 16 times the limit if that is more, the socket is cut instead.
 */
const discardUpload = (request: HttpServerRequest.HttpServerRequest, limit: number): Effect.Effect<void> => {
  const incoming = nodeBodyOf(request)
  if (incoming === undefined) return Effect.void
  return Effect.callback<void>((resume) => {
    let discarded = 0
    const onData = (chunk: Buffer) => {
      discarded += chunk.length
      if (discarded > Math.max(16 * limit, 64 * 1024 * 1024)) incoming.socket?.destroy()
    }
    const done = () => resume(Effect.void)
    incoming.on("data", onData)
    incoming.once("end", done)
    incoming.once("close", done)
    incoming.resume()
    return Effect.sync(() => {
      incoming.off("data", onData)
      incoming.off("end", done)
      incoming.off("close", done)
    })
  })
}

/**
 * A body declared larger than the limit is refused before any route runs, on its declared length (a
 * chunked body is cut off by the server's max body size instead).
 */
export const refuseDeclaredOversize = (
  request: HttpServerRequest.HttpServerRequest,
  declared: string,
  limit: number
): Effect.Effect<HttpServerResponse.HttpServerResponse> =>
  Effect.as(
    discardUpload(request, limit),
    envelopeResponse(
      new PayloadTooLarge({
        message: `Request body of ${declared} bytes exceeds the limit of ${limit} bytes`
      }),
      413
    )
  )
