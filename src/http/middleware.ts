import {
  HttpApiBuilder,
  HttpApiError,
  type HttpApp,
  HttpServerError,
  HttpServerRequest,
  type HttpServerResponse
} from "@effect/platform"
import { Cause, Context, Effect, Option } from "effect"
import { NodeHttpServerRequest } from "@effect/platform-node"
import type * as Http from "node:http"
import { AppConfig } from "../layers/AppConfig.ts"
import { FocusForgeApi } from "./Api.ts"
import { InternalError, MalformedRequest, NotFound, PayloadTooLarge, ValidationError } from "./errors.ts"
import { noteErrorTag } from "./observe.ts"

const MAX_BYTES_EXCEEDED = "maxBytes exceeded"

const isBodyTooLarge = (error: HttpServerError.RequestError): boolean =>
  error.cause instanceof Error && error.cause.message === MAX_BYTES_EXCEEDED

/**
 * Turns every failure the platform can produce on the way to a handler into one of our enveloped
 * errors, and every defect into an `InternalError` (logged with its cause, never shown to the client).
 */
type EnvelopeError = ValidationError | MalformedRequest | NotFound | PayloadTooLarge | InternalError

/** The platform's own errors that have a client-facing meaning, whether they arrive as failures or defects. */
const platformError = (error: unknown): Option.Option<EnvelopeError> => {
  if (error instanceof HttpApiError.HttpApiDecodeError) {
    return Option.some(
      new ValidationError({
        message: error.message,
        details: {
          issues: error.issues.map(({ path, message }) => ({
            path: path.map((key) => (typeof key === "symbol" ? String(key) : key)),
            message
          }))
        }
      })
    )
  }
  if (error instanceof HttpServerError.RouteNotFound) {
    return Option.some(new NotFound({ message: `No route for ${error.request.method} ${error.request.url}` }))
  }
  if (error instanceof HttpServerError.RequestError) {
    return Option.some(
      isBodyTooLarge(error)
        ? new PayloadTooLarge({ message: "Request body exceeds the size limit" })
        : new MalformedRequest({ message: "Request body is not valid JSON" })
    )
  }
  return Option.none()
}

/**
 * Turns every failure the platform can produce on the way to a handler into one of our enveloped
 * errors, and every other defect into an `InternalError` (logged with its cause, never shown to the client).
 */
const toEnvelope = (cause: Cause.Cause<unknown>): Effect.Effect<never, EnvelopeError> => {
  if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
  const error = Option.orElse(Cause.failureOption(cause), () => Cause.dieOption(cause))
  const known = Option.flatMap(error, platformError)
  if (Option.isSome(known)) return Effect.fail(known.value)
  // A declared error of some endpoint: the builder encodes it with the endpoint's schema. The
  // middleware signature only knows the API-level errors, hence the widening cast.
  if (Option.isSome(Cause.failureOption(cause))) return Effect.failCause(cause as Cause.Cause<never>)
  return Effect.logError("Unhandled defect", cause).pipe(
    Effect.zipRight(Effect.fail(new InternalError({ message: "Internal server error" })))
  )
}

/**
 * A 413 must reach a client that is still uploading. If the server answered and closed with the upload's
 * bytes unread, the kernel would answer them with a reset, and the reset can destroy the 413 before the
 * client reads it. So the upload is read to its end and dropped (never buffered) before answering,
 * bounded: past 64 MiB, or 16 times the limit if that is more, the socket is cut instead.
 */
const discardUpload = (incoming: Http.IncomingMessage, limit: number) =>
  Effect.async<void>((resume) => {
    let discarded = 0
    const onData = (chunk: Buffer) => {
      discarded += chunk.length
      if (discarded > Math.max(16 * limit, 64 * 1024 * 1024)) incoming.socket.destroy()
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

/**
 * Body size limit and the single error envelope, applied inside the API so errors are encoded by it.
 * The limit on bodies actually read (`HttpIncomingMessage.MaxBodySize`) is set once for the server's
 * runtime by `serveObserved`; this middleware refuses early on the declared length, without a generator
 * or a FiberRef write per request.
 */
export const ApiMiddlewareLive = HttpApiBuilder.middleware(
  FocusForgeApi,
  Effect.gen(function* () {
    const { http } = yield* AppConfig
    return (app: HttpApp.Default) =>
      Effect.withFiberRuntime<
        HttpServerResponse.HttpServerResponse,
        unknown,
        HttpServerRequest.HttpServerRequest
      >((fiber) => {
        const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
        const declared = request.headers["content-length"]
        // A chunked body is cut off by the max body size instead.
        if (declared !== undefined && Number(declared) > http.maxBodyBytes) {
          return Effect.zipRight(
            discardUpload(NodeHttpServerRequest.toIncomingMessage(request), http.maxBodyBytes),
            Effect.fail(
              new PayloadTooLarge({
                message: `Request body of ${declared} bytes exceeds the limit of ${http.maxBodyBytes} bytes`
              })
            )
          )
        }
        return app
      }).pipe(Effect.catchAllCause(toEnvelope), Effect.tapError(noteErrorTag))
  })
)
