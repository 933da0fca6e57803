/**
 * The socket limits of `src/http/NodeAdapter.ts` (issue 16, "bounded connections"), each shown on a real
 * `node:http` server from `NodeAdapter.createServer` with small limits, over loopback sockets from
 * distinct source addresses (127.0.0.2, 127.0.0.3). No timing is asserted: only what each client gets.
 */
import type * as Http from "node:http"
import * as Net from "node:net"
import { afterEach, describe, expect, it } from "vitest"
import { peerKey } from "../src/http/NodeAdapter.ts"
import * as NodeAdapter from "../src/http/NodeAdapter.ts"
import { type ConnectionLimits, defaultConnectionLimits } from "../src/layers/config/AppConfig.ts"

const servers: Array<Http.Server> = []
const sockets: Array<Net.Socket> = []

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(
    servers.splice(0).map(
      (server) =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        })
    )
  )
})

/** A server answering every request with the number of headers it received. */
const serve = async (limits: Partial<ConnectionLimits>): Promise<number> => {
  const server = NodeAdapter.createServer({ ...defaultConnectionLimits, ...limits })
  server.on("request", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
    request.resume()
    request.on("end", () => response.end(String(request.rawHeaders.length / 2)))
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("no port")
  return address.port
}

interface Connection {
  readonly socket: Net.Socket
  /** Everything received so far. */
  readonly received: () => string
  /** Resolves once the server closed the connection (or it failed), with everything received. */
  readonly closed: Promise<string>
  /** Resolves once `count` responses (status lines) have arrived. */
  readonly responses: (count: number) => Promise<string>
}

const connect = async (port: number, localAddress: string): Promise<Connection> => {
  const socket = Net.connect({ port, host: "127.0.0.1", localAddress })
  sockets.push(socket)
  let data = ""
  const waiters: Array<() => void> = []
  socket.on("data", (chunk: Buffer) => {
    data += chunk.toString("latin1")
    for (const wake of waiters.splice(0)) wake()
  })
  const closed = new Promise<string>((resolve) => {
    socket.on("close", () => resolve(data))
    socket.on("error", () => resolve(data))
  })
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve)
    socket.once("error", reject)
  })
  const responses = (count: number) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if ((data.match(/HTTP\/1\.1 \d{3}/g) ?? []).length >= count && /\r\n\r\n/.test(data)) resolve(data)
        else if (socket.destroyed) reject(new Error(`closed after: ${data}`))
        else waiters.push(check)
      }
      check()
    })
  return { socket, received: () => data, closed, responses }
}

const GET = "GET / HTTP/1.1\r\nHost: focusforge\r\n\r\n"

const statusOf = (text: string) => /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]

describe("connections per client address (MAX_CONNECTIONS_PER_ADDRESS)", () => {
  it("past the cap from 127.0.0.2 a connection is answered 503 and closed; 127.0.0.3 is still served", async () => {
    const port = await serve({ maxPerAddress: 3 })
    const held = await Promise.all([1, 2, 3].map(() => connect(port, "127.0.0.2")))
    for (const connection of held) connection.socket.write(GET)
    for (const connection of held) expect(statusOf(await connection.responses(1))).toBe("200")

    const excess = await connect(port, "127.0.0.2")
    excess.socket.write(GET)
    const refused = await excess.closed
    expect(statusOf(refused)).toBe("503")
    expect(refused).toContain("Retry-After: 1")
    expect(JSON.parse(refused.slice(refused.indexOf("\r\n\r\n") + 4))).toMatchObject({
      _tag: "ServiceUnavailable"
    })

    // Another address is not affected, while 127.0.0.2 still holds its three connections.
    const other = await connect(port, "127.0.0.3")
    other.socket.write(GET)
    expect(statusOf(await other.responses(1))).toBe("200")
    for (const connection of held) {
      connection.socket.write(GET)
      expect((connection.received().match(/HTTP\/1\.1 200/g) ?? []).length).toBeGreaterThanOrEqual(1)
    }

    // A closed connection frees its place.
    const [first] = held
    first?.socket.end()
    await first?.closed
    const again = await connect(port, "127.0.0.2")
    again.socket.write(GET)
    expect(statusOf(await again.responses(1))).toBe("200")
  })

  it("0 turns the per-address cap off", async () => {
    const port = await serve({ maxPerAddress: 0 })
    const many = await Promise.all(Array.from({ length: 8 }, () => connect(port, "127.0.0.2")))
    for (const connection of many) connection.socket.write(GET)
    for (const connection of many) expect(statusOf(await connection.responses(1))).toBe("200")
  })

  it("peers are counted by IPv4 address (mapped ones included) and by IPv6 /64", () => {
    expect(peerKey("127.0.0.2")).toBe("127.0.0.2")
    expect(peerKey("::ffff:127.0.0.2")).toBe("127.0.0.2")
    expect(peerKey("2001:db8:0:1::5")).toBe("2001:db8:0:1::/64")
    expect(peerKey("2001:0db8:0000:0001:ffff:1:2:3")).toBe("2001:db8:0:1::/64")
    expect(peerKey("::1")).toBe("0:0:0:0::/64")
    expect(peerKey(undefined)).toBe("unknown")
  })
})

describe("other socket limits", () => {
  it("MAX_CONNECTIONS: a connection beyond the server-wide cap is closed without an answer", async () => {
    const port = await serve({ maxConnections: 2, maxPerAddress: 0 })
    const held = await Promise.all([1, 2].map(() => connect(port, "127.0.0.2")))
    for (const connection of held) connection.socket.write(GET)
    for (const connection of held) expect(statusOf(await connection.responses(1))).toBe("200")
    const excess = await connect(port, "127.0.0.3")
    excess.socket.write(GET)
    expect(await excess.closed).toBe("")
  })

  it("HTTP_HEADERS_TIMEOUT_MS: headers that never end are answered 408 and the connection closed", async () => {
    const port = await serve({ headersTimeoutMs: 200, requestTimeoutMs: 5_000 })
    const slow = await connect(port, "127.0.0.2")
    slow.socket.write("GET / HTTP/1.1\r\nHost: focusforge\r\nX-Slow: ")
    expect(statusOf(await slow.closed)).toBe("408")
  })

  it("HTTP_REQUEST_TIMEOUT_MS: a body that never completes is answered 408 and the connection closed", async () => {
    const port = await serve({ headersTimeoutMs: 200, requestTimeoutMs: 400 })
    const slow = await connect(port, "127.0.0.2")
    slow.socket.write("POST / HTTP/1.1\r\nHost: focusforge\r\nContent-Length: 100\r\n\r\npartial")
    expect(statusOf(await slow.closed)).toBe("408")
  })

  it("an idle kept-alive connection is not cut by the headers timeout", async () => {
    const port = await serve({ headersTimeoutMs: 100, requestTimeoutMs: 200 })
    const client = await connect(port, "127.0.0.2")
    client.socket.write(GET)
    await client.responses(1)
    // Idle for longer than both timeouts: Node only times requests that have started.
    await new Promise((resolve) => setTimeout(resolve, 600))
    client.socket.write(GET)
    expect((await client.responses(2)).match(/HTTP\/1\.1 200/g)).toHaveLength(2)
  })

  it("HTTP_MAX_HEADERS: up to the count is served, more header lines are answered 431", async () => {
    const port = await serve({ maxHeadersCount: 20 })
    const headers = (count: number) => Array.from({ length: count }, (_, i) => `X-H${i}: ${i}\r\n`).join("")
    const within = await connect(port, "127.0.0.2")
    within.socket.write(`GET / HTTP/1.1\r\nHost: focusforge\r\nConnection: close\r\n${headers(18)}\r\n`)
    const served = await within.closed
    expect(statusOf(served)).toBe("200")
    expect(served.slice(served.indexOf("\r\n\r\n") + 4)).toBe("20")
    const beyond = await connect(port, "127.0.0.2")
    beyond.socket.write(`GET / HTTP/1.1\r\nHost: focusforge\r\n${headers(50)}\r\n`)
    expect(statusOf(await beyond.closed)).toBe("431")
  })

  it("HTTP_MAX_HEADER_BYTES: larger headers are answered 431", async () => {
    const port = await serve({ maxHeaderBytes: 4096 })
    const client = await connect(port, "127.0.0.2")
    client.socket.write(`GET / HTTP/1.1\r\nHost: focusforge\r\nX-Big: ${"a".repeat(8192)}\r\n\r\n`)
    expect(statusOf(await client.closed)).toBe("431")
  })
})
