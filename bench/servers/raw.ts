/**
 * The floor: plain `node:http` answering `/health/live` with the same JSON body and headers as the
 * FocusForge endpoint, with the same keep-alive timeout and listen backlog as our server.
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

const body = JSON.stringify({ status: "ok" })
const length = String(Buffer.byteLength(body))

const server = Http.createServer({ keepAliveTimeout: 65_000 }, (request, response) => {
  if (request.url === "/health/live") {
    response.writeHead(200, { "content-type": "application/json", "content-length": length })
    response.end(body)
  } else {
    response.writeHead(404).end()
  }
})
server.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1", backlog: 4096 }, () => {
  console.log(`Listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`)
})
process.once("SIGTERM", () => server.close(() => process.exit(0)))
