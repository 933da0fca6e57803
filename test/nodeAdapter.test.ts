/**
 * FocusForge's Node adapter (`src/http/NodeAdapter.ts`) keeps the platform's `HttpServer` contract:
 * bodies in memory and streamed, HEAD, cookies, request bodies within the size limit, the request's
 * scope, and a client that goes away interrupting its request's fiber. In-process server, real sockets.
 */
import {
  FileSystem,
  HttpIncomingMessage,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Deferred, Effect, Exit, Layer, ManagedRuntime, Option, Schedule, Stream } from "effect"
import * as Net from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as NodeAdapter from "../src/http/NodeAdapter.ts"
import { request } from "./support/http.ts"

const interrupted = Effect.runSync(Deferred.make<void>())
const scopeClosed = Effect.runSync(Deferred.make<void>())
const started = Effect.runSync(Deferred.make<void>())

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/json", HttpServerResponse.unsafeJson({ status: "ok" })),
  HttpRouter.get("/text", HttpServerResponse.text("plain")),
  HttpRouter.get("/empty", HttpServerResponse.empty({ status: 204 })),
  HttpRouter.get(
    "/cookie",
    HttpServerResponse.text("c").pipe(
      HttpServerResponse.setHeader("set-cookie", "raw=1"),
      HttpServerResponse.unsafeSetCookie("session", "abc", { httpOnly: true })
    )
  ),
  HttpRouter.get(
    "/stream",
    Effect.succeed(
      HttpServerResponse.stream(
        Stream.make("a", "b", "c").pipe(Stream.schedule(Schedule.spaced("5 millis")), Stream.encodeText),
        { contentType: "text/plain" }
      )
    )
  ),
  HttpRouter.get(
    "/stream-cookies",
    Effect.succeed(
      HttpServerResponse.stream(Stream.make("x").pipe(Stream.encodeText)).pipe(
        HttpServerResponse.unsafeSetCookie("a", "1"),
        HttpServerResponse.unsafeSetCookie("b", "2")
      )
    )
  ),
  HttpRouter.get(
    "/stream-fails",
    Effect.succeed(
      HttpServerResponse.stream(
        Stream.concat(Stream.make("partial").pipe(Stream.encodeText), Stream.fail(new Error("broken")))
      )
    )
  ),
  HttpRouter.post(
    "/echo",
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (req) =>
      Effect.map(req.json, (body) =>
        HttpServerResponse.unsafeJson({ body, method: req.method, url: req.url, cookies: req.cookies })
      )
    )
  ),
  HttpRouter.post(
    "/form",
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (req) =>
      Effect.map(req.urlParamsBody, (params) => HttpServerResponse.unsafeJson(params))
    )
  ),
  HttpRouter.post(
    "/bytes",
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (req) =>
      Effect.map(req.arrayBuffer, (buffer) => HttpServerResponse.unsafeJson({ length: buffer.byteLength }))
    )
  ),
  HttpRouter.get(
    "/slow",
    Effect.addFinalizer(() => Deferred.succeed(scopeClosed, undefined)).pipe(
      Effect.zipRight(Deferred.succeed(started, undefined)),
      Effect.zipRight(Effect.never),
      Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined)),
      Effect.as(HttpServerResponse.empty())
    )
  ),
  HttpRouter.catchAll(() => Effect.succeed(HttpServerResponse.text("bad request", { status: 400 })))
)

const NodeServerLive = NodeAdapter.layer({ port: 0, host: "127.0.0.1", backlog: 16 })

const ServerLive = HttpServer.serve(router).pipe(
  Layer.provide(Layer.succeed(HttpIncomingMessage.MaxBodySize, Option.some(FileSystem.Size(1024)))),
  Layer.provideMerge(NodeServerLive)
)

const runtime = ManagedRuntime.make(ServerLive)
let base = ""

beforeAll(async () => {
  const server = await runtime.runPromise(HttpServer.HttpServer)
  const address = server.address
  if (address._tag !== "TcpAddress") throw new Error("expected a TCP address")
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
