import { createHash } from "node:crypto"
import { promisify } from "node:util"
import * as Zlib from "node:zlib"

/** Encodings the docs page is kept in, best first: brotli is about a tenth smaller than gzip here. */
export type DocsEncoding = "br" | "gzip" | "identity"

/** One representation of the docs page: its bytes and its validator. */
export interface DocsVariant {
  readonly encoding: DocsEncoding
  readonly body: Uint8Array
  readonly etag: string
}

export type DocsVariants = Readonly<Record<DocsEncoding, DocsVariant>>

/**
 * The docs only change with a deploy, so browsers may reuse them for a while and then revalidate with
 * the ETag (a 304 costs a few bytes instead of the 3 MB page).
 */
export const DOCS_CACHE_CONTROL = "public, max-age=3600"

/**
 * Scalar's bundle embeds `@font-face` rules pointing at fonts.scalar.com. `withDefaultFonts: false`
 * keeps them from being injected; rewriting their URLs to empty `data:` URLs makes sure that even a code
 * path that ignores the flag cannot make a browser on an offline or privacy-minded network call a CDN.
 */
export const withoutExternalFonts = (html: string): string =>
  html.replace(/https:\/\/fonts\.scalar\.com\//g, "data:,")

const brotli = promisify(Zlib.brotliCompress)
const gzip = promisify(Zlib.gzip)

const etagOf = (hash: string, encoding: DocsEncoding) =>
  encoding === "identity" ? `"${hash}"` : `"${hash}-${encoding}"`

/**
 * The page in every encoding, computed once (on the libuv thread pool, so the event loop keeps
 * serving). Brotli at quality 9 is within a few percent of 11 on this page at a fraction of the time.
 */
export const compressDocs = async (html: string): Promise<DocsVariants> => {
  const raw = new TextEncoder().encode(html)
  const hash = createHash("sha256").update(raw).digest("base64url").slice(0, 22)
  const [br, gz] = await Promise.all([
    brotli(raw, {
      params: {
        [Zlib.constants.BROTLI_PARAM_QUALITY]: 9,
        [Zlib.constants.BROTLI_PARAM_MODE]: Zlib.constants.BROTLI_MODE_TEXT,
        [Zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.length
      }
    }),
    gzip(raw, { level: 9 })
  ])
  const variant = (encoding: DocsEncoding, body: Uint8Array): DocsVariant => ({
    encoding,
    body,
    etag: etagOf(hash, encoding)
  })
  return { br: variant("br", br), gzip: variant("gzip", gz), identity: variant("identity", raw) }
}

/** The codings an `Accept-Encoding` header accepts (a `q=0` refuses one; `*` stands for the rest). */
const acceptedCodings = (header: string): ReadonlyMap<string, number> => {
  const accepted = new Map<string, number>()
  for (const part of header.split(",")) {
    const [name = "", ...params] = part.trim().toLowerCase().split(";")
    if (name === "") continue
    const q = params.map((param) => /^\s*q=([0-9.]+)\s*$/.exec(param)?.[1]).find((v) => v !== undefined)
    accepted.set(name.trim(), q === undefined ? 1 : Number(q))
  }
  return accepted
}

/** The best encoding the client accepts: brotli, then gzip, else the raw page. */
export const chooseEncoding = (acceptEncoding: string | undefined): DocsEncoding => {
  if (acceptEncoding === undefined) return "identity"
  const accepted = acceptedCodings(acceptEncoding)
  const wildcard = accepted.get("*") ?? 0
  const accepts = (coding: string) => (accepted.get(coding) ?? wildcard) > 0
  if (accepts("br")) return "br"
  if (accepts("gzip")) return "gzip"
  return "identity"
}

/** Whether `If-None-Match` names this variant's ETag (weak comparison, as RFC 9110 asks for it). */
export const matchesEtag = (ifNoneMatch: string | undefined, etag: string): boolean =>
  (ifNoneMatch ?? "")
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, ""))
    .some((tag) => tag === "*" || tag === etag)
