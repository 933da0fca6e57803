/**
 * Two corrections to the generated document:
 * - Effect tags `unknown`/`any` schemas with a fixed `$id` (e.g. "/schemas/unknown"); used more than once,
 *   the duplicate ids make the document invalid OpenAPI 3.1, so they are dropped.
 * - `HttpApi.make` registers the platform's `HttpApiDecodeError` on every endpoint, but our middleware turns
 * each decode failure into a `ValidationError` (the one error envelope), so the document must not promise
 * the platform's shape to clients.
 */
const DECODE_ERROR_REF = "#/components/schemas/HttpApiDecodeError"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isObject = (value: Json | undefined): value is { readonly [key: string]: Json } =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const strip = (value: Json): Json => {
  if (Array.isArray(value)) {
    return value.filter((item) => !(isObject(item) && item.$ref === DECODE_ERROR_REF)).map(strip)
  }
  if (!isObject(value)) return value
  const out: Record<string, Json> = {}
  for (const [key, child] of Object.entries(value)) {
    if (key === "HttpApiDecodeError") continue
    if (key === "$id" && typeof child === "string" && child.startsWith("/schemas/")) continue
    const stripped = strip(child)
    // a oneOf/anyOf left with a single alternative is that alternative
    if ((key === "anyOf" || key === "oneOf") && Array.isArray(stripped) && stripped.length === 1) {
      Object.assign(out, stripped[0])
      continue
    }
    out[key] = stripped
  }
  return out
}

export const correctOpenApi = (spec: Record<string, unknown>): Record<string, unknown> =>
  strip(spec as Json) as Record<string, unknown>
