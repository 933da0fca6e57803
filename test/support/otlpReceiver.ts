import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** One span as OTLP/HTTP JSON carries it (ids are hex strings in the JSON encoding). */
export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly attributes: Record<string, unknown>
  readonly resource: Record<string, unknown>
  /** OTLP's status code: 0 unset, 1 OK, 2 error (an absent status is unset). */
  readonly statusCode: number
}

interface AnyValue {
  readonly stringValue?: string
  readonly intValue?: string | number
  readonly doubleValue?: number
  readonly boolValue?: boolean
}
interface KeyValue {
  readonly key: string
  readonly value: AnyValue
}
interface ExportRequest {
  readonly resourceSpans?: ReadonlyArray<{
    readonly resource?: { readonly attributes?: ReadonlyArray<KeyValue> }
    readonly scopeSpans?: ReadonlyArray<{
      readonly spans?: ReadonlyArray<{
        readonly traceId: string
        readonly spanId: string
        readonly parentSpanId?: string
        readonly name: string
        readonly kind: number
        readonly attributes?: ReadonlyArray<KeyValue>
        readonly status?: { readonly code?: number }
      }>
    }>
  }>
}

const plain = (value: AnyValue): unknown =>
  value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue

const toRecord = (attributes: ReadonlyArray<KeyValue> = []): Record<string, unknown> =>
  Object.fromEntries(attributes.map(({ key, value }) => [key, plain(value)]))

export interface OtlpReceiver {
  /** The base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string
  readonly spans: () => ReadonlyArray<ReceivedSpan>
  /** Resolves once a span matching the predicate has arrived (polling), or rejects at the deadline. */
  readonly waitFor: (predicate: (span: ReceivedSpan) => boolean, timeoutMs?: number) => Promise<ReceivedSpan>
  readonly close: () => Promise<void>
}

/**
 * A loopback OTLP/HTTP collector for tests: accepts the JSON encoding the trace exporter sends to
 * `/v1/traces` and keeps every span. Protobuf bodies are refused with 415 (the exporter sends JSON).
 */
export const startOtlpReceiver = async (): Promise<OtlpReceiver> => {
  const received: Array<ReceivedSpan> = []
  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      if (req.url !== "/v1/traces" || !(req.headers["content-type"] ?? "").includes("application/json")) {
        res.writeHead(415).end()
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ExportRequest
      for (const resourceSpans of body.resourceSpans ?? []) {
        const resource = toRecord(resourceSpans.resource?.attributes)
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            received.push({
              traceId: span.traceId,
              spanId: span.spanId,
              ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
              name: span.name,
              kind: span.kind,
              attributes: toRecord(span.attributes),
              resource,
              statusCode: span.status?.code ?? 0
            })
          }
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans: () => received,
    waitFor: (predicate, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const deadline = Date.now() + timeoutMs
        const poll = setInterval(() => {
          const found = received.find(predicate)
          if (found !== undefined) {
            clearInterval(poll)
            resolve(found)
          } else if (Date.now() > deadline) {
            clearInterval(poll)
            reject(
              new Error(`no matching span in ${timeoutMs} ms; got: ${received.map((s) => s.name).join(", ")}`)
            )
          }
        }, 50)
      }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
