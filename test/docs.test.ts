import * as Http from "node:http"
import * as Zlib from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { chooseEncoding, matchesEtag } from "../src/http/docsPage.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

interface RawReply {
  readonly status: number
  readonly headers: Http.IncomingHttpHeaders
  readonly body: Buffer
}

/** A GET whose body is kept as sent on the wire (node:http never decompresses). */
const getRaw = (url: string, headers: Record<string, string> = {}): Promise<RawReply> =>
  new Promise((resolve, reject) => {
    const req = Http.request(url, { headers, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) })
      )
      res.on("error", reject)
    })
    req.on("error", reject)
    req.end()
  })

describe("chooseEncoding", () => {
  it("prefers brotli, then gzip, honours q=0 and the wildcard", () => {
    expect(chooseEncoding(undefined)).toBe("identity")
    expect(chooseEncoding("gzip, deflate, br")).toBe("br")
    expect(chooseEncoding("gzip")).toBe("gzip")
    expect(chooseEncoding("br;q=0, gzip;q=0.5")).toBe("gzip")
    expect(chooseEncoding("*")).toBe("br")
    expect(chooseEncoding("*;q=0")).toBe("identity")
    expect(chooseEncoding("deflate")).toBe("identity")
  })

  it("matches If-None-Match lists, weak tags and *", () => {
    expect(matchesEtag('"a", W/"b"', '"b"')).toBe(true)
    expect(matchesEtag("*", '"b"')).toBe(true)
    expect(matchesEtag('"a"', '"b"')).toBe(false)
    expect(matchesEtag(undefined, '"b"')).toBe(false)
  })
})

describe("/docs on a real server", () => {
  let server: ServerProcess
  beforeAll(async () => {
    server = await startServer()
  }, 120_000)
  afterAll(async () => {
    await server.stop()
  })

  it("is served brotli- or gzip-compressed, smaller than the raw page and decoding to it", async () => {
    const raw = await getRaw(`${server.url}/docs`)
    const br = await getRaw(`${server.url}/docs`, { "accept-encoding": "gzip, br" })
    const gz = await getRaw(`${server.url}/docs`, { "accept-encoding": "gzip" })
    expect([raw.status, br.status, gz.status]).toEqual([200, 200, 200])
    expect(raw.headers["content-encoding"]).toBeUndefined()
    expect(br.headers["content-encoding"]).toBe("br")
    expect(gz.headers["content-encoding"]).toBe("gzip")
    expect(br.headers.vary).toContain("Accept-Encoding")
    expect(br.body.length).toBeLessThan(raw.body.length / 3)
    expect(gz.body.length).toBeLessThan(raw.body.length / 3)
    expect(Zlib.brotliDecompressSync(br.body).equals(raw.body)).toBe(true)
    expect(Zlib.gunzipSync(gz.body).equals(raw.body)).toBe(true)
    expect(raw.headers["content-type"]).toContain("text/html")
  }, 60_000)

  it("has an ETag and Cache-Control, and answers a matching If-None-Match with 304 and no body", async () => {
    const first = await getRaw(`${server.url}/docs`, { "accept-encoding": "br" })
    const etag = first.headers.etag
    expect(etag).toMatch(/^"[^"]+"$/)
    expect(first.headers["cache-control"]).toMatch(/^public, max-age=\d+$/)
    const again = await getRaw(`${server.url}/docs`, { "accept-encoding": "br", "if-none-match": etag ?? "" })
    expect(again.status).toBe(304)
    expect(again.body.length).toBe(0)
    expect(again.headers.etag).toBe(etag)
    const stale = await getRaw(`${server.url}/docs`, { "accept-encoding": "br", "if-none-match": '"old"' })
    expect(stale.status).toBe(200)
  }, 60_000)

  it("names no external font host or https:// font URL", async () => {
    const page = (await getRaw(`${server.url}/docs`)).body.toString("utf8")
    expect(page).toContain("<html")
    expect(page).toContain('"withDefaultFonts":false')
    expect(page).not.toMatch(/https:\/\/[^\s"'`)]*\.(woff2?|ttf|otf)/)
    expect(page).not.toMatch(/https:\/\/fonts\.(scalar\.com|googleapis\.com|gstatic\.com)/)
  }, 60_000)
})
