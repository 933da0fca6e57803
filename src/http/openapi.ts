import { Schema } from "effect"
import { LimitBounds, OffsetBounds } from "./api/Paging.ts"
import { InsightDaysBounds } from "./api/MoodApi.ts"

/**
 * Corrections to the generated document, so it stays valid OpenAPI 3.1, promises only our envelope and
 * lints clean (Redocly `recommended`, test/openapi.lint.test.ts):
 * - schemas tagged with a fixed `$id` (e.g. "/schemas/unknown") are invalid when used more than once, so
 *   the ids are dropped;
 * - the platform's own decode-error schemas (`HttpApiDecodeError` in Effect 3, `HttpApiSchemaError` in
 *   Effect 4) are removed wherever the generator puts them: our `ErrorEnvelope` middleware turns every
 *   decode failure into a `ValidationError` or `MalformedRequest`, so clients never see that shape;
 * - an `anyOf` holding the empty schema (`details: Unknown | null`) is that empty schema: it already
 *   admits anything, and linters flag the composition as illogical;
 * - integers get a `format` (`int32` when their bounds fit, `int64` otherwise), instants (`Timestamp`,
 *   and every `*_at` string) `format: date-time`;
 * - integer query parameters (`limit`, `offset`, `days`) are declared as integers: HttpApi documents
 *   their wire form ("a string that decodes to a number"), which makes generated clients take strings;
 * - `servers`, `info.contact` and operation descriptions are added (see `serverUrl`);
 * - the response headers the server sends are declared (see `RESPONSE_HEADERS`).
 */
const PLATFORM_ERRORS: ReadonlySet<string> = new Set(["HttpApiDecodeError", "HttpApiSchemaError"])
const PLATFORM_ERROR_REFS: ReadonlySet<string> = new Set(
  [...PLATFORM_ERRORS].map((name) => `#/components/schemas/${name}`)
)

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type JsonObject = { readonly [key: string]: Json }

const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isPlatformRef = (value: Json): boolean =>
  isObject(value) && typeof value.$ref === "string" && PLATFORM_ERROR_REFS.has(value.$ref)

const isEmptySchema = (value: Json): boolean => isObject(value) && Object.keys(value).length === 0

const INT32_MIN = -2_147_483_648
const INT32_MAX = 2_147_483_647

/** `int32` when both bounds are declared and fit, `int64` otherwise (JSON numbers stay safe integers). */
const integerFormat = (schema: JsonObject): string => {
  const { minimum, maximum } = schema
  return typeof minimum === "number" &&
    typeof maximum === "number" &&
    minimum >= INT32_MIN &&
    maximum <= INT32_MAX
    ? "int32"
    : "int64"
}

/** Adds the `format` an integer or an instant string lacks; `key` is the property name, if any. */
const withFormat = (schema: Record<string, Json>, key: string | undefined): void => {
  if (schema.format !== undefined) return
  if (schema.type === "integer") schema.format = integerFormat(schema)
  else if (schema.type === "string" && key !== undefined && isInstant(key) && schema.enum === undefined) {
    schema.format = "date-time"
  }
}

/**
 * Names of instants: `*_at` properties (the API's naming rule for them) and the domain's `Timestamp`
 * schema (src/domain/common.ts, encoded as an ISO-8601 string).
 */
const isInstant = (key: string): boolean => key.endsWith("_at") || key === "TimestampEncoded"

const strip = (value: Json, key?: string): Json => {
  if (Array.isArray(value)) {
    return value.filter((item) => !isPlatformRef(item)).map((item) => strip(item))
  }
  if (!isObject(value)) return value
  const out: Record<string, Json> = {}
  for (const [name, child] of Object.entries(value)) {
    if (PLATFORM_ERRORS.has(name)) continue
    if (name === "$id" && typeof child === "string" && child.startsWith("/schemas/")) continue
    const stripped =
      (name === "properties" || name === "schemas") && isObject(child) ? stripProperties(child) : strip(child)
    if ((name === "anyOf" || name === "oneOf") && Array.isArray(stripped)) {
      // an alternative that admits anything makes the whole composition admit anything
      if (stripped.some(isEmptySchema)) continue
      // a oneOf/anyOf left with a single alternative is that alternative
      if (stripped.length === 1) {
        Object.assign(out, stripped[0])
        continue
      }
    }
    out[name] = stripped
  }
  withFormat(out, key)
  return out
}

/** Property and component schemas are walked with their names, which decide the `date-time` format. */
const stripProperties = (properties: JsonObject): Json => {
  const out: Record<string, Json> = {}
  for (const [name, child] of Object.entries(properties)) out[name] = strip(child, name)
  return out
}

/**
 * The integer query parameters, as integers with their bounds: the generator documents only their wire
 * form (a string matching a number pattern), so generated clients would take strings.
 */
const QUERY_PARAMETERS: Readonly<Record<string, JsonObject>> = {
  limit: { type: "integer", format: "int32", ...LimitBounds, default: 20 },
  offset: { type: "integer", format: "int32", ...OffsetBounds, default: 0 },
  days: { type: "integer", format: "int32", ...InsightDaysBounds, default: 30 },
  from: { type: "string", format: "date-time" },
  to: { type: "string", format: "date-time" }
}

const HTTP_METHODS: ReadonlySet<string> = new Set([
  "get",
  "put",
  "post",
  "delete",
  "patch",
  "head",
  "options"
])

/** Query parameters named in `QUERY_PARAMETERS` get its schema; every other parameter is kept. */
const typedParameter = (parameter: Json): Json => {
  if (!isObject(parameter) || parameter.in !== "query" || typeof parameter.name !== "string") return parameter
  const schema = QUERY_PARAMETERS[parameter.name]
  return schema === undefined ? parameter : { ...parameter, schema }
}

/**
 * Headers the server sends, declared once under `components.headers`: `x-request-id` and
 * `x-instance-id` on every response (src/http/observe.ts), `Retry-After` with the errors that tell the
 * client when to come back (src/http/handlers/common.ts, the login and registration throttles).
 */
const RESPONSE_HEADERS: JsonObject = {
  "x-request-id": {
    description:
      "The request's id: the client's own `x-request-id` when it sent a sane one, otherwise a fresh UUID. Every log line of the request carries it.",
    required: true,
    // the form src/http/observe.ts accepts from a client; a fresh UUID fits it too
    schema: { type: "string", pattern: "^[A-Za-z0-9._:-]{1,128}$" }
  },
  "x-instance-id": {
    description: "The instance that answered (`INSTANCE_ID`), telling instances behind a proxy apart.",
    required: true,
    schema: { type: "string", minLength: 1 }
  },
  "Retry-After": {
    description: "Seconds to wait before retrying (the same number as `details.retry_after_seconds`).",
    required: true,
    schema: { type: "integer", format: "int32", minimum: 1 }
  }
}

/** `Retry-After` on a status whose other errors do not send it (the health checks' own 503). */
const OPTIONAL_RETRY_AFTER: JsonObject = {
  description:
    "Seconds to wait before retrying; sent with `Overloaded`, `StoreUnavailable` and the throttles only.",
  required: false,
  schema: { type: "integer", format: "int32", minimum: 1 }
}

/** The error schemas answered with `Retry-After`. */
const RETRY_AFTER_SCHEMAS: ReadonlySet<string> = new Set(
  [
    "OverloadedEncoded",
    "StoreUnavailableEncoded",
    "LoginThrottledEncoded",
    "RegistrationThrottledEncoded"
  ].map((name) => `#/components/schemas/${name}`)
)

const headerRef = (name: string): JsonObject => ({ $ref: `#/components/headers/${name}` })

/** The `$ref`s a response's JSON body may be: its schema's own, or each alternative's. */
const bodyRefs = (response: JsonObject): ReadonlyArray<string> => {
  const content = isObject(response.content) ? response.content["application/json"] : undefined
  const schema = isObject(content) ? content.schema : undefined
  if (!isObject(schema)) return []
  const members = Array.isArray(schema.anyOf)
    ? schema.anyOf
    : Array.isArray(schema.oneOf)
      ? schema.oneOf
      : [schema]
  return members.map((member) => (isObject(member) && typeof member.$ref === "string" ? member.$ref : ""))
}

/** A response with the headers it is sent with; `Retry-After` is required when every body sends it. */
const withHeaders = (response: Json): Json => {
  if (!isObject(response)) return response
  const refs = bodyRefs(response)
  const retrying = refs.filter((ref) => RETRY_AFTER_SCHEMAS.has(ref)).length
  const headers: Record<string, Json> = {
    ...(isObject(response.headers) ? response.headers : {}),
    "x-request-id": headerRef("x-request-id"),
    "x-instance-id": headerRef("x-instance-id")
  }
  if (retrying > 0) {
    headers["Retry-After"] = retrying === refs.length ? headerRef("Retry-After") : OPTIONAL_RETRY_AFTER
  }
  return { ...response, headers }
}

const withResponseHeaders = (responses: Json | undefined): Json | undefined => {
  if (!isObject(responses)) return responses
  const out: Record<string, Json> = {}
  for (const [status, response] of Object.entries(responses)) out[status] = withHeaders(response)
  return out
}

/**
 * Security schemes that guard only when configured: `metricsToken` is required only with
 * `METRICS_TOKEN` set (always in production, never by default in embedded mode), so its operations
 * also admit no credentials (`{}`) rather than claiming a token is always needed.
 */
const CONFIGURED_SCHEMES: ReadonlySet<string> = new Set(["metricsToken"])

const isConfiguredOnly = (security: Json | undefined): boolean =>
  Array.isArray(security) &&
  security.length > 0 &&
  security.every(
    (requirement) =>
      isObject(requirement) && Object.keys(requirement).every((name) => CONFIGURED_SCHEMES.has(name))
  )

/**
 * An operation with typed query parameters, declared response headers, a description (its summary
 * when it has none) and optional security where the token is optional.
 */
const correctOperation = (operation: JsonObject): JsonObject => ({
  ...operation,
  ...(isConfiguredOnly(operation.security) && Array.isArray(operation.security)
    ? { security: [{}, ...operation.security] }
    : {}),
  ...(isObject(operation.responses) ? { responses: withResponseHeaders(operation.responses) ?? {} } : {}),
  ...(operation.description === undefined && typeof operation.summary === "string"
    ? { description: operation.summary }
    : {}),
  ...(Array.isArray(operation.parameters) ? { parameters: operation.parameters.map(typedParameter) } : {})
})

const correctPaths = (paths: Json | undefined): Json | undefined => {
  if (!isObject(paths)) return paths
  const out: Record<string, Json> = {}
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) {
      out[path] = item
      continue
    }
    const operations: Record<string, Json> = {}
    for (const [method, operation] of Object.entries(item)) {
      operations[method] =
        HTTP_METHODS.has(method) && isObject(operation) ? correctOperation(operation) : operation
    }
    out[path] = operations
  }
  return out
}

/**
 * Where clients reach the API: `PUBLIC_URL` when set (the address users see, e.g. behind nginx),
 * otherwise the listen address (`HOST`, with `0.0.0.0`/`::` shown as loopback, and `PORT`). With
 * `PORT=0` the port is only known once bound, so the document names the server it was fetched from
 * (`/`). Read here, when the document is built, so that no other configuration depends on it.
 */
export const serverUrl = (env: Readonly<Record<string, string | undefined>> = process.env): string => {
  const publicUrl = env.PUBLIC_URL?.trim()
  if (publicUrl !== undefined && publicUrl !== "") return publicUrl.replace(/\/+$/, "")
  const port = env.PORT?.trim() || "8000"
  if (port === "0") return "/"
  const host = env.HOST?.trim() || "0.0.0.0"
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host
  return `http://${shown}:${port}`
}

/** Who answers for the API; the generator has no annotation for `info.contact`. */
const CONTACT: JsonObject = { name: "FocusForge backend team" }

export const correctOpenApi = (spec: Record<string, unknown>): Record<string, unknown> => {
  // A JSON document by construction (it is served with JSON.stringify): the cast only names that.
  const stripped = strip(spec as unknown as Json) as JsonObject
  const info = isObject(stripped.info) ? stripped.info : {}
  const components = isObject(stripped.components) ? stripped.components : {}
  const corrected: Record<string, Json> = {
    ...stripped,
    info: { ...info, contact: CONTACT },
    components: { ...components, headers: RESPONSE_HEADERS },
    servers: [{ url: serverUrl(), description: "This instance (PUBLIC_URL, or the listen address)" }]
  }
  const paths = correctPaths(stripped.paths)
  if (paths !== undefined) corrected.paths = paths
  return corrected as unknown as Record<string, unknown>
}

/** What the document needs of a registered chain (src/programs/chains/Chain.ts). */
export interface DocumentedChain {
  readonly name: string
  readonly description: string
  readonly input: Schema.Top
  readonly output: Schema.Top
}

const CHAIN_PATH = "/api/v1/orchestrator/chains/execute/{chain_name}"
const SCHEMAS = "#/components/schemas/"

/**
 * A chain's JSON Schema with its definitions moved to `components.schemas` (a definition whose name is
 * taken by a different schema is renamed `<name>_<chain>`), refs rewritten to match.
 */
const chainSchema = (schema: Schema.Top, chain: string, components: Record<string, Json>): Json => {
  const document = Schema.toJsonSchemaDocument(schema)
  const names: Record<string, string> = {}
  for (const [name, definition] of Object.entries(document.definitions)) {
    const json = definition as Json
    const taken = components[name]
    const target =
      taken === undefined || JSON.stringify(taken) === JSON.stringify(json) ? name : `${name}_${chain}`
    names[name] = target
    components[target] = json
  }
  const rewrite = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(rewrite)
    if (!isObject(value)) return value
    const out: Record<string, Json> = {}
    for (const [key, child] of Object.entries(value)) {
      out[key] =
        key === "$ref" && typeof child === "string" && child.startsWith("#/$defs/")
          ? `${SCHEMAS}${names[child.slice("#/$defs/".length)] ?? child.slice("#/$defs/".length)}`
          : rewrite(child)
    }
    return out
  }
  for (const target of Object.values(names)) components[target] = rewrite(components[target] ?? {})
  return rewrite(document.schema as Json)
}

/** The chain endpoint's operation for one chain: its input as the body, its output in the answer. */
const chainOperation = (
  generic: JsonObject,
  chain: DocumentedChain,
  components: Record<string, Json>
): JsonObject => {
  const responses = isObject(generic.responses) ? generic.responses : {}
  const ok = isObject(responses["200"]) ? responses["200"] : {}
  const { parameters: _parameters, ...rest } = generic
  const execution: Json = {
    allOf: [
      { $ref: `${SCHEMAS}ChainExecution` },
      {
        type: "object",
        properties: {
          chain: { type: "string", enum: [chain.name] },
          output: chainSchema(chain.output, chain.name, components)
        },
        required: ["chain", "output"]
      }
    ]
  }
  return {
    ...rest,
    operationId: `${String(generic.operationId ?? "executeChain")}.${chain.name}`,
    summary: `Run the ${chain.name} chain: ${chain.description}`,
    description: `${chain.description} The body is the chain's input (decoded by its Schema: 422 \`ChainInputRejected\` when it does not fit); the answer carries its output and the steps of the run.`,
    requestBody: {
      required: true,
      content: { "application/json": { schema: chainSchema(chain.input, chain.name, components) } }
    },
    responses: {
      ...responses,
      "200": {
        ...ok,
        description: `The ${chain.name} run`,
        content: { "application/json": { schema: execution } }
      }
    }
  }
}

/**
 * The chain endpoint is one route (`/chains/execute/:chain_name`, any registered chain, an unknown name
 * answering 404) with an untyped body: as such no generator can type a call. The document lists it as
 * one path per chain instead, each with the chain's input and output schemas, so generated clients
 * check the body of every call. Same route, same behaviour: only the contract's description changes.
 */
export const withChainEndpoints =
  (chains: ReadonlyArray<DocumentedChain>) =>
  (spec: Record<string, unknown>): Record<string, unknown> => {
    const paths = spec.paths as Record<string, Json> | undefined
    const item = paths?.[CHAIN_PATH]
    const generic = isObject(item) && isObject(item.post) ? item.post : undefined
    if (paths === undefined || generic === undefined) return spec
    const components = (spec.components ?? {}) as Record<string, Json>
    const schemas: Record<string, Json> = { ...(isObject(components.schemas) ? components.schemas : {}) }
    const expanded: Record<string, Json> = {}
    for (const [path, value] of Object.entries(paths)) {
      if (path !== CHAIN_PATH) {
        expanded[path] = value
        continue
      }
      for (const chain of chains) {
        expanded[CHAIN_PATH.replace("{chain_name}", chain.name)] = {
          post: chainOperation(generic, chain, schemas)
        }
      }
    }
    return { ...spec, paths: expanded, components: { ...components, schemas } }
  }
