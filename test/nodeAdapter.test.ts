/**
 * FocusForge's Node adapter (`src/http/NodeAdapter.ts`) keeps the platform's `HttpServer` contract:
 * bodies in memory and streamed, HEAD, cookies, request bodies within the size limit, the request's
 * scope, and a client that goes away interrupting its request's fiber. In-process server, real sockets.
 */
import { ByteSize, Deferred, Effect, Exit, Layer, ManagedRuntime, Schedule, Stream, type Types } from "effect"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServer,
  type HttpServerError,
  HttpServerResponse
} from "effect/http"
import * as Net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as NodeAdapter from "../src/http/NodeAdapter.ts"
import { request } from "./support/http.ts"

const interrupted = Effect.runSync(Deferred.make<void>())
const scopeClosed = Effect.runSync(Deferred.make<void>())
const started = Effect.runSync(Deferred.make<void>())

const Routes = Layer.mergeAll(
  HttpRouter.add("GET", "/json", HttpServerResponse.jsonUnsafe({ status: "ok" })),
  HttpRouter.add("GET", "/text", HttpServerResponse.text("plain")),
  HttpRouter.add("GET", "/empty", HttpServerResponse.empty({ status: 204 })),
  HttpRouter.add(
    "GET",
    "/cookie",
    HttpServerResponse.text("c").pipe(
      HttpServerResponse.setHeader("set-cookie", "raw=1"),
      HttpServerResponse.setCookieUnsafe("session", "abc", { httpOnly: true })
    )
  ),
  HttpRouter.add(
    "GET",
    "/stream",
    Effect.succeed(
      HttpServerResponse.stream(
        Stream.make("a", "b", "c").pipe(Stream.schedule(Schedule.spaced("5 millis")), Stream.encodeText),
        { contentType: "text/plain" }
      )
    )
  ),
  HttpRouter.add(
    "GET",
    "/stream-cookies",
    Effect.succeed(
      HttpServerResponse.stream(Stream.make("x").pipe(Stream.encodeText)).pipe(
        HttpServerResponse.setCookieUnsafe("a", "1"),
        HttpServerResponse.setCookieUnsafe("b", "2")
      )
    )
  ),
  HttpRouter.add(
    "GET",
    "/stream-fails",
    Effect.succeed(
      HttpServerResponse.stream(
        Stream.concat(Stream.make("partial").pipe(Stream.encodeText), Stream.fail(new Error("broken")))
      )
    )
  ),
  HttpRouter.add("POST", "/echo", (req) =>
    Effect.map(req.json, (body) =>
      HttpServerResponse.jsonUnsafe({ body, method: req.method, url: req.url, cookies: req.cookies })
    )
  ),
  // v4 `UrlParams` is an object holding its pairs in `params` (v3's was the array of pairs itself).
  HttpRouter.add("POST", "/form", (req) =>
    Effect.map(req.urlParamsBody, (params) => HttpServerResponse.jsonUnsafe(params.params))
  ),
  HttpRouter.add("POST", "/bytes", (req) =>
    Effect.map(req.arrayBuffer, (buffer) => HttpServerResponse.jsonUnsafe({ length: buffer.byteLength }))
  ),
  HttpRouter.add(
    "GET",
    "/slow",
    Effect.addFinalizer(() => Deferred.succeed(scopeClosed, undefined)).pipe(
      Effect.andThen(Deferred.succeed(started, undefined)),
      Effect.andThen(Effect.never),
      Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)),
      Effect.as(HttpServerResponse.empty())
    )
  )
)

// v3 `HttpRouter.catchAll`: a route that fails (a body the server refused included) answers 400. v4
// routers type their errors: every failure these routes (and the router's not-found) can have is an
// `HttpServerError`.
const BadRequest = HttpRouter.middleware<{ handles: HttpServerError.HttpServerError }>()(
  (app): Effect.Effect<HttpServerResponse.HttpServerResponse, Types.unhandled> =>
    Effect.catchTag(app, "HttpServerError", () =>
      Effect.succeed(HttpServerResponse.text("bad request", { status: 400 }))
    ),
  { global: true }
)

const NodeServerLive = NodeAdapter.layer({ port: 0, host: "127.0.0.1", backlog: 16 })

// v3 `HttpServer.serve(router)` logged neither requests nor the address.
const ServerLive = HttpRouter.serve(Layer.mergeAll(Routes, BadRequest), {
  disableLogger: true,
  disableListenLog: true
}).pipe(
  Layer.provide(Layer.succeed(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(1024))),
  Layer.provideMerge(NodeServerLive)
)

const runtime = ManagedRuntime.make(ServerLive)
let base = ""

beforeAll(async () => {
  const server = await runtime.runPromise(HttpServer.HttpServer)
  const address = server.address
  if (address._tag === "UnixPathAddress") throw new Error("expected a TCP address")
  base = `http://127.0.0.1:${address.port}`
})

afterAll(() => runtime.dispose())

describe("the Node adapter", () => {
  it("answers bodies in memory: JSON, text and empty, with their headers", async () => {
    const json = await request(`${base}/json`)
    expect(json.status).toBe(200)
    expect(json.headers["content-type"]).toContain("application/json")
    expect(json.json()).toEqual({ status: "ok" })
    const text = await request(`${base}/text`)
    expect(text.text).toBe("plain")
    expect(text.headers["content-length"]).toBe("5")
    const empty = await request(`${base}/empty`)
    expect(empty.status).toBe(204)
    expect(empty.text).toBe("")
  })

  it("answers HEAD with the headers and no body", async () => {
    const head = await request(`${base}/json`, { method: "HEAD" })
    expect(head.status).toBe(200)
    expect(head.headers["content-type"]).toContain("application/json")
    expect(head.text).toBe("")
  })

  it("sends cookies next to a set-cookie header the handler set", async () => {
    const reply = await request(`${base}/cookie`)
    expect(reply.headers["set-cookie"]).toEqual(expect.arrayContaining(["raw=1", "session=abc; HttpOnly"]))
  })

  it("streams a streamed body", async () => {
    const reply = await request(`${base}/stream`)
    expect(reply.status).toBe(200)
    expect(reply.text).toBe("abc")
    expect(reply.headers["content-type"]).toContain("text/plain")
  })

  it("keeps every cookie of a streamed response", async () => {
    const reply = await request(`${base}/stream-cookies`)
    expect(reply.text).toBe("x")
    expect(reply.headers["set-cookie"]).toEqual(expect.arrayContaining(["a=1", "b=2"]))
  })

  it("cuts a streamed response whose stream fails, and goes on serving", async () => {
    const reply = await request(`${base}/stream-fails`).catch((error: Error) => error)
    // The head went out with a 200; the failure can only cut the body short.
    if (!(reply instanceof Error)) expect(reply.text).not.toContain("broken")
    const next = await request(`${base}/json`)
    expect(next.status).toBe(200)
  })

  it("reads JSON, form and byte bodies, and the request's method, url and cookies", async () => {
    const echo = await request(`${base}/echo?x=1`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: "a=1; b=2" },
      body: JSON.stringify({ hello: "world" })
    })
    expect(echo.json()).toEqual({
      body: { hello: "world" },
      method: "POST",
      url: "/echo?x=1",
      cookies: { a: "1", b: "2" }
    })
    const form = await request(`${base}/form`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "a=1&b=two"
    })
    expect(form.json()).toEqual([
      ["a", "1"],
      ["b", "two"]
    ])
    const bytes = await request(`${base}/bytes`, { method: "POST", body: Buffer.alloc(300, 7) })
    expect(bytes.json()).toEqual({ length: 300 })
  })

  it("refuses a body over the server's size limit", async () => {
    const reply = await request(`${base}/bytes`, {
      method: "POST",
      headers: { "transfer-encoding": "chunked" },
      body: Buffer.alloc(4096, 1)
    }).catch((error: Error) => error)
    // The limit holds: either the handler's error answer or a cut connection, never the whole body read.
    if (reply instanceof Error) expect(reply.message).toMatch(/socket|ECONNRESET|EPIPE/)
    else expect(reply.status).toBe(400)
  })

  it("interrupts the request's fiber and closes its scope when the client goes away", async () => {
    const port = Number(new URL(base).port)
    const socket = Net.connect(port, "127.0.0.1")
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
    socket.write("GET /slow HTTP/1.1\r\nhost: localhost\r\n\r\n")
    await Effect.runPromise(Deferred.await(started))
    socket.destroy()
    const exit = await Effect.runPromiseExit(
      Effect.all([Deferred.await(interrupted), Deferred.await(scopeClosed)]).pipe(
        Effect.timeout("10 seconds")
      )
    )
    expect(Exit.isSuccess(exit)).toBe(true)
  })
})
