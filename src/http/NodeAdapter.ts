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
 *   idle sockets (an idle kept-alive socket is not under the headers timeout: that clock starts with a
 *   request's first byte);
 * - socket limits chosen on purpose (`ConnectionLimits`, README "Limits"): headers and whole-request
 *   timeouts against slow senders, checked every second rather than Node's 30 s, header count and size,
 *   open connections in all (`server.maxConnections`) and per peer address;
 * - a listen backlog of 4096 (Node's 511 overflows under a burst of new connections);
 * - closing: `make` leaves it to the caller (the application's drain on SIGTERM decides how the server
 *   closes; the platform's own pre-emptive shutdown is off), `layer` closes its fresh server on release.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, type Scope } from "effect"
import { HttpServer, type HttpServerError } from "effect/http"
import * as Http from "node:http"
import * as Net from "node:net"
import { type ConnectionLimits, defaultConnectionLimits } from "../layers/config/AppConfig.ts"

// Longer than nginx's upstream keepalive_timeout (60 s) so the proxy, not Node, closes idle sockets.
export const KEEP_ALIVE_TIMEOUT_MS = 65_000

/** How often Node checks the headers and request timeouts (its default, 30 s, would add up to 30 s). */
const TIMEOUT_CHECK_INTERVAL_MS = 1_000

/** How long a refused connection may stay open for the client to read its 503 and close. */
const REFUSAL_LINGER_MS = 1_000

const REFUSAL_BODY = JSON.stringify({
  _tag: "ServiceUnavailable",
  message: "Too many open connections from this address"
})

/** Written on the socket directly: the connection never reaches the HTTP parser or the app. */
const REFUSAL = [
  "HTTP/1.1 503 Service Unavailable",
  "Content-Type: application/json",
  `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}`,
  "Retry-After: 1",
  "Connection: close",
  "",
  REFUSAL_BODY
].join("\r\n")

/** Groups of an IPv6 address, `::` expanded (an embedded IPv4 tail counts as one group: harmless here). */
const ipv6Groups = (address: string): ReadonlyArray<string> => {
  const [head = "", tail] = address.split("%")[0]?.split("::") ?? [""]
  const left = head === "" ? [] : head.split(":")
  if (tail === undefined) return left
  const right = tail === "" ? [] : tail.split(":")
  return [
    ...left,
    ...Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => "0"),
    ...right
  ]
}

/**
 * The key a peer's connections are counted under: its IPv4 address (IPv4-mapped IPv6 included), or the
 * /64 of an IPv6 address, since one subscriber usually holds a whole /64.
 */
export const peerKey = (address: string | undefined): string => {
  if (address === undefined) return "unknown"
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped?.[1] !== undefined) return mapped[1]
  if (!Net.isIPv6(address)) return address
  const prefix = ipv6Groups(address)
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ""))
  return `${prefix.join(":")}::/64`
}

const refuse = (socket: Net.Socket) => {
  socket.setTimeout(REFUSAL_LINGER_MS, () => socket.destroy())
  socket.on("error", () => socket.destroy())
  // Whatever the client already sent is read and dropped, so it gets the answer rather than a reset.
  socket.resume()
  socket.end(REFUSAL)
}

/**
 * At most `cap` open connections per peer (`peerKey`); one more is answered 503 and closed before Node's
 * HTTP parser sees it, so it costs no request and reaches no handler. node:http serves a connection
 * through the one `connection` listener its constructor registers: that listener is moved behind the
 * admission check.
 */
const capConnectionsPerPeer = (server: Http.Server, cap: number) => {
  const listeners = server.listeners("connection")
  const serve = listeners[0]
  if (listeners.length !== 1 || serve === undefined) {
    throw new Error(`node:http registered ${listeners.length} connection listeners, expected 1`)
  }
  server.removeAllListeners("connection")
  const open = new Map<string, number>()
  server.on("connection", (socket: Net.Socket) => {
    const key = peerKey(socket.remoteAddress)
    const count = open.get(key) ?? 0
    if (count >= cap) return refuse(socket)
    open.set(key, count + 1)
    socket.once("close", () => {
      const left = (open.get(key) ?? 1) - 1
      if (left === 0) open.delete(key)
      else open.set(key, left)
    })
    Reflect.apply(serve, server, [socket])
  })
}

export interface ListenOptions {
  readonly port: number
  readonly host: string
  readonly backlog: number
}

/** A `node:http` server with FocusForge's keep-alive and the socket limits of `limits`. */
export const createServer = (limits: ConnectionLimits = defaultConnectionLimits): Http.Server => {
  const server = Http.createServer({
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_INTERVAL_MS, limits.headersTimeoutMs),
    maxHeaderSize: limits.maxHeaderBytes
  })
  server.maxHeadersCount = limits.maxHeadersCount
  server.maxConnections = limits.maxConnections
  if (limits.maxPerAddress > 0) capConnectionsPerPeer(server, limits.maxPerAddress)
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
