/**
 * Corrections to the generated document, so it stays valid OpenAPI 3.1 and promises only our envelope:
 * - schemas tagged with a fixed `$id` (e.g. "/schemas/unknown") are invalid when used more than once, so
 *   the ids are dropped;
 * - the platform's own decode-error schemas (`HttpApiDecodeError` in Effect 3, `HttpApiSchemaError` in
 *   Effect 4) are removed wherever the generator puts them: our `ErrorEnvelope` middleware turns every
 *   decode failure into a `ValidationError` or `MalformedRequest`, so clients never see that shape.
 */
const PLATFORM_ERRORS: ReadonlySet<string> = new Set(["HttpApiDecodeError", "HttpApiSchemaError"])
const PLATFORM_ERROR_REFS: ReadonlySet<string> = new Set(
  [...PLATFORM_ERRORS].map((name) => `#/components/schemas/${name}`)
)

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

const isObject = (value: Json | undefined): value is { readonly [key: string]: Json } =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isPlatformRef = (value: Json): boolean =>
  isObject(value) && typeof value.$ref === "string" && PLATFORM_ERROR_REFS.has(value.$ref)

const strip = (value: Json): Json => {
  if (Array.isArray(value)) {
    return value.filter((item) => !isPlatformRef(item)).map(strip)
  }
  if (!isObject(value)) return value
  const out: Record<string, Json> = {}
  for (const [key, child] of Object.entries(value)) {
    if (PLATFORM_ERRORS.has(key)) continue
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
  // A JSON document by construction (it is served with JSON.stringify): the cast only names that.
  strip(spec as unknown as Json) as unknown as Record<string, unknown>
