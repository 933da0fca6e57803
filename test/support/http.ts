import * as Http from "node:http"
import * as Net from "node:net"

export interface Reply {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly text: string
  readonly json: () => unknown
}

/** A plain node:http request on a fresh connection (no pooling), so each call is independent. */
export const request = (
  url: string,
  options: {
    readonly method?: string
    readonly headers?: Record<string, string>
    readonly body?: string | Buffer
    /** The loopback source address to connect from (127.0.0.2 …), so the server sees another client. */
    readonly localAddress?: string
  } = {}
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    let responded = false
    const req = Http.request(
      url,
      {
        method: options.method ?? "GET",
        headers: {
          ...(options.body !== undefined && options.headers?.["transfer-encoding"] === undefined
            ? { "content-length": String(Buffer.byteLength(options.body)) }
            : {}),
          ...options.headers
        },
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress })
      },
      (res) => {
        responded = true
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) })
        })
        res.on("error", reject)
      }
    )
    // A server may answer early (413 on a declared length) and close while the body is still being
    // sent: like curl, keep the answer and ignore the broken upload.
    req.on("error", (error: NodeJS.ErrnoException) => {
      if (responded && (error.code === "EPIPE" || error.code === "ECONNRESET")) return
      reject(error)
    })
    if (options.body === undefined) {
      req.end()
      return
    }
    // Sent in slices so an early answer is read while the upload is still going.
    const body = typeof options.body === "string" ? Buffer.from(options.body) : options.body
    const SLICE = 64 * 1024
    let offset = 0
    const pump = () => {
      while (offset < body.length) {
        const slice = body.subarray(offset, offset + SLICE)
        offset += slice.length
        if (!req.write(slice)) {
          req.once("drain", pump)
          return
        }
      }
      req.end()
    }
    // With `expect: 100-continue` the body waits for the server's go-ahead, as curl does for large
    // bodies; an early final answer (413) means it is never sent.
    if (options.headers?.expect === "100-continue") req.once("continue", pump)
    else pump()
  })

export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  request(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })

/**
 * An HTTP/1.1 request over a bare TCP socket that keeps whatever the server answers even when the
 * server stops reading the upload (an early 413): node:http's client reports the broken pipe and drops
 * the answer, curl and browsers show it. Answers the status and the body of the first response.
 */
export const rawUpload = (
  url: string,
  options: { readonly method: string; readonly headers: Record<string, string>; readonly body: Buffer }
): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const target = new URL(url)
    const socket = Net.connect({ host: target.hostname, port: Number(target.port) })
    const chunks: Array<Buffer> = []
    const finish = () => {
      const raw = Buffer.concat(chunks).toString("utf8")
      const final = raw.split("\r\n\r\n").findIndex((part) => !part.startsWith("HTTP/1.1 100"))
      const parts = raw.split("\r\n\r\n")
      const head = parts[final] ?? ""
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0)
      if (status === 0) reject(new Error(`no response: ${raw.slice(0, 200)}`))
      else resolve({ status, text: parts[final + 1] ?? "" })
    }
    socket.on("data", (chunk: Buffer) => chunks.push(chunk))
    socket.on("error", () => socket.destroy())
    socket.on("close", finish)
    const headers = {
      host: target.host,
      "content-length": String(options.body.length),
      connection: "close",
      ...options.headers
    }
    socket.write(
      `${options.method} ${target.pathname}${target.search} HTTP/1.1\r\n${Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}`)
        .join("\r\n")}\r\n\r\n`
    )
    // In slices, stopping as soon as the server answers (as curl does): bytes sent after the server closed
    // would only earn a reset.
    let offset = 0
    const pump = () => {
      while (offset < options.body.length && chunks.length === 0 && !socket.destroyed) {
        const slice = options.body.subarray(offset, offset + 64 * 1024)
        offset += slice.length
        if (!socket.write(slice)) {
          socket.once("drain", pump)
          return
        }
      }
    }
    pump()
  })
