import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"

/** What the fake answers to one request. */
export type Behavior =
  /** A chat completion whose message content is `JSON.stringify(content)`. */
  | { readonly kind: "answer"; readonly content: unknown }
  /** Embeddings for the request's inputs, optionally listed in reverse order (indices stay correct). */
  | { readonly kind: "embeddings"; readonly reversed?: boolean }
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string; readonly body?: string }
  /** 200 with a body that is not JSON. */
  | { readonly kind: "malformed" }
  /** 200 with a completion whose content is not JSON. */
  | { readonly kind: "malformedContent" }
  /** Never answers; the connection stays open until the client gives up or the fake closes. */
  | { readonly kind: "hang" }
  | { readonly kind: "delay"; readonly ms: number; readonly next: Behavior }

export interface RecordedRequest {
  readonly path: string
  readonly authorization: string | undefined
  readonly body: unknown
}

export interface FakeProvider {
  /** Base URL including `/v1`, as `AI_BASE_URL` expects it. */
  readonly baseUrl: string
  /** Queues behaviours for the next requests, in order; after them the default applies. */
  readonly script: (...behaviors: ReadonlyArray<Behavior>) => void
  readonly setDefault: (behavior: Behavior) => void
  readonly calls: () => number
  /** Calls received and neither answered nor given up by their client yet. */
  readonly inFlight: () => number
  /** The most calls ever in flight at once. */
  readonly maxInFlight: () => number
  readonly requests: () => ReadonlyArray<RecordedRequest>
  readonly close: () => Promise<void>
}

/** A small deterministic vector per text, so tests can check which text each vector belongs to. */
export const fakeVector = (text: string): ReadonlyArray<number> => [text.length, text.charCodeAt(0) || 0, 1]

const readBody = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    request.on("error", reject)
  })

const sendJson = (
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {}
) => {
  response.writeHead(status, { "content-type": "application/json", ...headers })
  response.end(typeof body === "string" ? body : JSON.stringify(body))
}

/**
 * A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions and embeddings protocol,
 * scriptable per request, counting calls and the most it ever had in flight at once.
 */
export const startFakeProvider = async (defaultBehavior: Behavior = { kind: "answer", content: {} }) => {
  let fallback = defaultBehavior
  const queue: Array<Behavior> = []
  const recorded: Array<RecordedRequest> = []
  let inFlight = 0
  let maxInFlight = 0

  const respond = async (behavior: Behavior, response: ServerResponse, input: unknown): Promise<void> => {
    switch (behavior.kind) {
      case "answer":
        return sendJson(response, 200, {
          id: "chatcmpl-fake",
          object: "chat.completion",
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: JSON.stringify(behavior.content) },
              finish_reason: "stop"
            }
          ]
        })
      case "embeddings": {
        const texts: ReadonlyArray<string> =
          typeof input === "object" && input !== null && "input" in input && Array.isArray(input.input)
            ? input.input.map(String)
            : []
        const data = texts.map((text, index) => ({ object: "embedding", index, embedding: fakeVector(text) }))
        return sendJson(response, 200, { object: "list", data: behavior.reversed ? data.reverse() : data })
      }
      case "status":
        return sendJson(
          response,
          behavior.status,
          behavior.body ?? { error: { message: `status ${behavior.status}` } },
          behavior.retryAfter === undefined ? {} : { "retry-after": behavior.retryAfter }
        )
      case "malformed":
        return sendJson(response, 200, "{ this is not json")
      case "malformedContent":
        return sendJson(response, 200, {
          choices: [{ message: { role: "assistant", content: "sure! {oops" } }]
        })
      case "hang":
        return new Promise<void>((resolve) => response.on("close", resolve))
      case "delay":
        await new Promise((resolve) => setTimeout(resolve, behavior.ms))
        return respond(behavior.next, response, input)
    }
  }

  const server = createServer((request, response) => {
    inFlight++
    maxInFlight = Math.max(maxInFlight, inFlight)
    // A call is in flight from its arrival until it is answered or its client hangs up. The client's
    // FIN ("end" on the socket) is seen at once; the response's "close" only comes a loop turn later, by
    // when a caller that gave up on this call may already have sent its next one.
    let done = false
    const socket = request.socket
    const finish = () => {
      if (!done) {
        done = true
        inFlight--
        socket.off("end", finish)
      }
    }
    response.on("close", finish)
    socket.once("end", finish)
    void readBody(request).then(async (text) => {
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
      recorded.push({ path: request.url ?? "", authorization: request.headers.authorization, body })
      const isEmbeddings = (request.url ?? "").endsWith("/embeddings")
      const behavior =
        queue.shift() ?? (isEmbeddings && fallback.kind === "answer" ? { kind: "embeddings" } : fallback)
      await respond(behavior, response, body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo

  const fake: FakeProvider = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    script: (...behaviors) => {
      queue.push(...behaviors)
    },
    setDefault: (behavior) => {
      fallback = behavior
    },
    calls: () => recorded.length,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    requests: () => recorded,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
  return fake
}
