/**
 * FocusForge's Node adapter for `@effect/platform`'s `HttpServer`: the same contract as
 * `NodeHttpServer.make` (every route still runs as an `HttpApp` through `HttpApp.toHandled`, with the
 * platform's middleware, tracer, per-request scope and error-to-response handling), with a leaner
 * hand-off between Node and the fiber. Measured per request (`BENCHMARKS.md`, "HTTP hot path"):
 *
 * - The request reaches the fiber in its initial context. `NodeHttpServer` forks the app wrapped in
 *   `Effect.provideService(…, HttpServerRequest, request)`, which copies the fiber's Context again and
 *   writes the context FiberRef twice (each write copies the FiberRef map and compares Contexts entry
 *   by entry) on every request.
 * - A response whose body is already in memory (bytes, text, empty) is written with one `end` and the
 *   fiber finishes at once. `NodeHttpServer` suspends the fiber until `end`'s flush callback, which costs
 *   an `Effect.async`, one more trip through the scheduler and a fiber kept alive per in-flight write.
 *   The data is in Node's socket buffer either way; Node's own backpressure is unchanged.
 *
 * Streams, form data and piped bodies go through the platform's generic Web conversion
 * (`HttpServerResponse.toWeb`). WebSocket upgrades are not served (the API has none).
 */
import {
  Cookies,
  type Headers,
  HttpApp,
  HttpIncomingMessage,
  type HttpMiddleware,
  HttpServer,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse,
  UrlParams
} from "@effect/platform"
import { NodeHttpServer, NodeMultipart, NodeStream } from "@effect/platform-node"
import { Context, Effect, Inspectable, Layer, Option, Runtime, type Stream } from "effect"
import * as Http from "node:http"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import type { ReadableStream as WebReadableStream } from "node:stream/web"

/** The platform's request interface over a Node `IncomingMessage`, reading bodies with the server's limit. */
class NodeServerRequest extends Inspectable.Class implements HttpServerRequest.HttpServerRequest {
  readonly [HttpServerRequest.TypeId]: HttpServerRequest.TypeId = HttpServerRequest.TypeId
  readonly [HttpIncomingMessage.TypeId]: HttpIncomingMessage.TypeId = HttpIncomingMessage.TypeId

  constructor(
    /** The Node request (`NodeHttpServerRequest.toIncomingMessage` reads it). */
    readonly source: Http.IncomingMessage,
    /** The Node response (`NodeHttpServerRequest.toServerResponse` reads it). */
    readonly response: Http.ServerResponse,
    readonly url: string = source.url ?? "/",
    private readonly headersOverride?: Headers.Headers,
    private readonly remoteAddressOverride?: string
  ) {
    super()
  }

  private readonly onError = (cause: unknown): HttpServerError.RequestError =>
    new HttpServerError.RequestError({ request: this, reason: "Decode", cause })

  get originalUrl(): string {
    return this.source.url ?? "/"
  }

  get method(): HttpServerRequest.HttpServerRequest["method"] {
    return (this.source.method ?? "GET").toUpperCase() as HttpServerRequest.HttpServerRequest["method"]
  }

  get headers(): Headers.Headers {
    // Node's header object is already lower-cased and single-valued where HTTP allows it.
    return this.headersOverride ?? (this.source.headers as Headers.Headers)
  }

  get remoteAddress(): Option.Option<string> {
    return Option.fromNullable(this.remoteAddressOverride ?? this.source.socket.remoteAddress)
  }

  private cachedCookies: Record<string, string> | undefined
  get cookies(): Record<string, string> {
    this.cachedCookies ??= Cookies.parseHeader(this.headers.cookie ?? "")
    return this.cachedCookies
  }

  private cachedText: Effect.Effect<string, HttpServerError.RequestError> | undefined
  /** Read once (a body can only be consumed once), within `HttpIncomingMessage.MaxBodySize`. */
  get text(): Effect.Effect<string, HttpServerError.RequestError> {
    this.cachedText ??= Effect.runSync(
      Effect.cached(
        Effect.flatMap(HttpIncomingMessage.MaxBodySize, (maxBytes) =>
          NodeStream.toString(() => this.source, {
            onFailure: this.onError,
            maxBytes: Option.getOrUndefined(maxBytes)
          })
        )
      )
    )
    return this.cachedText
  }

  get json(): Effect.Effect<unknown, HttpServerError.RequestError> {
    return Effect.tryMap(this.text, {
      try: (text): unknown => (text === "" ? null : JSON.parse(text)),
      catch: this.onError
    })
  }

  get urlParamsBody(): Effect.Effect<UrlParams.UrlParams, HttpServerError.RequestError> {
    return Effect.flatMap(this.text, (text) =>
      Effect.try({ try: () => UrlParams.fromInput(new URLSearchParams(text)), catch: this.onError })
    )
  }

  get arrayBuffer(): Effect.Effect<ArrayBuffer, HttpServerError.RequestError> {
    return Effect.flatMap(HttpIncomingMessage.MaxBodySize, (maxBytes) =>
      NodeStream.toUint8Array(() => this.source, {
        onFailure: this.onError,
        maxBytes: Option.getOrUndefined(maxBytes)
      })
    ).pipe(Effect.map((bytes) => new Uint8Array(bytes).buffer))
  }

  get stream(): Stream.Stream<Uint8Array, HttpServerError.RequestError> {
    return NodeStream.fromReadable(() => this.source, this.onError)
  }

  get multipart(): HttpServerRequest.HttpServerRequest["multipart"] {
    return NodeMultipart.persisted(this.source, this.source.headers)
  }

  get multipartStream(): HttpServerRequest.HttpServerRequest["multipartStream"] {
    return NodeMultipart.stream(this.source, this.source.headers)
  }

  get upgrade(): HttpServerRequest.HttpServerRequest["upgrade"] {
    return Effect.fail(
      new HttpServerError.RequestError({
        request: this,
        reason: "Decode",
        description: "WebSocket upgrades are not served"
      })
    )
  }

  modify(options: {
    readonly url?: string
    readonly headers?: Headers.Headers
    readonly remoteAddress?: string
  }): HttpServerRequest.HttpServerRequest {
    return new NodeServerRequest(
      this.source,
      this.response,
      options.url ?? this.url,
      options.headers ?? this.headersOverride,
      options.remoteAddress ?? this.remoteAddressOverride
    )
  }

  toJSON(): unknown {
    return { _id: "@effect/platform/HttpServerRequest", method: this.method, url: this.originalUrl }
  }
}

const headersOf = (response: HttpServerResponse.HttpServerResponse): Http.OutgoingHttpHeaders => {
  if (Cookies.isEmpty(response.cookies)) return response.headers
  const setCookie = Cookies.toSetCookieHeaders(response.cookies)
  const existing = response.headers["set-cookie"]
  return { ...response.headers, "set-cookie": existing === undefined ? setCookie : [...setCookie, existing] }
}

/** The body when it is already in memory (`null` for none); `undefined` when it has to be streamed. */
const bodyInMemory = (
  body: HttpServerResponse.HttpServerResponse["body"]
): string | Uint8Array | null | undefined => {
  switch (body._tag) {
    case "Empty":
      return null
    case "Uint8Array":
      return body.body
    case "Raw":
      return typeof body.body === "string" || body.body instanceof Uint8Array ? body.body : undefined
    default:
      return undefined
  }
}

/**
 * Writes the platform's response to Node. Bodies already in memory take one `end`; the rest (streams,
 * form data, Node readables) are converted by the platform to a Web response and piped.
 */
const respond = (
  request: HttpServerRequest.HttpServerRequest,
  response: HttpServerResponse.HttpServerResponse
): Effect.Effect<void, HttpServerError.ResponseError> => {
  const node = (request as NodeServerRequest).response
  // Answered already, or a streamed answer failed after its head went out (the socket was destroyed):
  // the error response the platform then tries must not write a second head.
  if (node.writableEnded || node.headersSent || node.destroyed) return Effect.void
  const inMemory = bodyInMemory(response.body)
  if (inMemory !== undefined || request.method === "HEAD") {
    node.writeHead(response.status, headersOf(response))
    if (inMemory === undefined || inMemory === null || request.method === "HEAD") node.end()
    else node.end(inMemory)
    return Effect.void
  }
  // The body is produced by the request's own fiber's runtime (its logs, its span).
  return Effect.flatMap(Effect.runtime<never>(), (runtime) => {
    const web = HttpServerResponse.toWeb(response, { runtime })
    // The Web response adds content type and length; cookies stay those of `headersOf` (a Headers
    // object keeps one set-cookie per name when turned into a record).
    const added = Object.fromEntries([...web.headers].filter(([name]) => name !== "set-cookie"))
    node.writeHead(response.status, { ...added, ...headersOf(response) })
    if (web.body === null) {
      node.end()
      return Effect.void
    }
    const source = Readable.fromWeb(web.body as WebReadableStream<Uint8Array>)
    return Effect.tryPromise({
      try: (signal) => pipeline(source, node, { signal }),
      catch: (cause) => new HttpServerError.ResponseError({ request, response, reason: "Decode", cause })
    }).pipe(
      Effect.interruptible,
      Effect.tapErrorCause(() =>
        Effect.sync(() => {
          if (!node.writableEnded) node.destroy()
        })
      )
    )
  })
}

/**
 * The Node `request` listener for an app: one fiber per request, forked from the server's runtime with
 * the request already in its context. A client that goes away before the answer interrupts its fiber.
 */
const makeHandler = (httpApp: HttpApp.Default<unknown>, middleware?: HttpMiddleware.HttpMiddleware) =>
  Effect.map(Effect.runtime<never>(), (runtime) => {
    const handled = HttpApp.toHandled(httpApp, respond, middleware)
    return (incoming: Http.IncomingMessage, outgoing: Http.ServerResponse) => {
      const request = new NodeServerRequest(incoming, outgoing)
      const fiber = Runtime.runFork(
        Runtime.make({
          context: Context.add(runtime.context, HttpServerRequest.HttpServerRequest, request),
          fiberRefs: runtime.fiberRefs,
          runtimeFlags: runtime.runtimeFlags
        })
      )(handled)
      outgoing.on("close", () => {
        if (!outgoing.writableEnded) fiber.unsafeInterruptAsFork(HttpServerError.clientAbortFiberId)
      })
    }
  })

const listen = (
  server: Http.Server,
  options: { readonly port: number; readonly host: string; readonly backlog: number }
) =>
  Effect.async<void, HttpServerError.ServeError>((resume) => {
    const onError = (cause: unknown) => resume(Effect.fail(new HttpServerError.ServeError({ cause })))
    server.once("error", onError)
    server.listen(options, () => {
      server.off("error", onError)
      resume(Effect.void)
    })
  })

/**
 * Listens on `options` and serves apps on `server`. Closing the server (and draining it) is the caller's
 * finalizer; the platform's layers for the rest of the context come from `NodeHttpServer.layerContext`.
 */
export const make = (
  server: Http.Server,
  options: { readonly port: number; readonly host: string; readonly backlog: number }
): Effect.Effect<HttpServer.HttpServer, HttpServerError.ServeError> =>
  Effect.map(listen(server, options), () => {
    const address = server.address()
    return HttpServer.make({
      address:
        typeof address === "string" || address === null
          ? { _tag: "UnixAddress", path: String(address) }
          : {
              _tag: "TcpAddress",
              hostname: address.address === "::" ? "0.0.0.0" : address.address,
              port: address.port
            },
      serve: (httpApp, middleware) =>
        Effect.flatMap(makeHandler(httpApp, middleware), (handler) =>
          Effect.acquireRelease(
            Effect.sync(() => server.on("request", handler)),
            () => Effect.sync(() => server.off("request", handler))
          )
        ).pipe(Effect.asVoid)
    })
  })

/**
 * The adapter as a layer for a fresh server that is closed when the layer is released, with the
 * platform's Node context (`NodeHttpServer.layerContext`). The application server uses `make` instead,
 * because its drain on SIGTERM decides how the server closes.
 */
export const layer = (options: { readonly port: number; readonly host: string; readonly backlog: number }) =>
  Layer.scoped(
    HttpServer.HttpServer,
    Effect.acquireRelease(
      Effect.sync(() => Http.createServer({ keepAliveTimeout: 65_000 })),
      (server) =>
        Effect.async<void>((resume) => {
          server.close(() => resume(Effect.void))
        })
    ).pipe(Effect.flatMap((server) => make(server, options)))
  ).pipe(Layer.merge(NodeHttpServer.layerContext))
