/**
 * The served OpenAPI document lints clean with Redocly's `recommended` ruleset (errors and warnings
 * alike), names its server, and types what generated clients see: integer query parameters, formats
 * on integers and instants.
 */
import { randomUUID } from "node:crypto"
import { createConfig, lintFromString, type NormalizedProblem } from "@redocly/openapi-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { serverUrl } from "../src/http/openapi.ts"
import { postJson, request } from "./support/http.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

// Redocly may report usage otherwise: nothing leaves this machine.
process.env.REDOCLY_TELEMETRY = "off"

const PUBLIC_URL = "https://focusforge.internal.test/"

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }
type Schema = { readonly [key: string]: Json }
interface Parameter {
  readonly name: string
  readonly in: string
  readonly schema: Schema
}
interface Response {
  readonly headers?: Record<string, { readonly $ref?: string; readonly required?: boolean }>
}
interface Operation {
  readonly responses: Record<string, Response>
  readonly summary?: string
  readonly description?: string
  readonly parameters?: ReadonlyArray<Parameter>
}
interface Document {
  readonly info: { readonly license?: Schema; readonly contact?: Schema }
  readonly servers?: ReadonlyArray<{ readonly url: string }>
  readonly tags: ReadonlyArray<{ readonly name: string; readonly description?: string }>
  readonly paths: Record<string, Record<string, Operation>>
  readonly components: { readonly schemas: Record<string, Schema>; readonly headers: Record<string, Schema> }
}

/** One line per problem, so a failure names the rule and where it fired. */
const describeProblem = (problem: NormalizedProblem): string =>
  `${problem.severity} ${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer ?? "?"}`

const lint = async (text: string): Promise<ReadonlyArray<string>> => {
  const config = await createConfig({ extends: ["recommended"] })
  const problems = await lintFromString({ source: text, absoluteRef: "openapi.json", config })
  return problems.map(describeProblem)
}

const operations = (doc: Document): ReadonlyArray<[string, Operation]> =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, Operation] => [`${method} ${path}`, operation])
  )

/** Every schema object in the document, depth first. */
const schemasIn = (value: Json): ReadonlyArray<Schema> => {
  if (Array.isArray(value)) return value.flatMap(schemasIn)
  if (typeof value !== "object" || value === null) return []
  const object = value as Schema
  return [object, ...Object.values(object).flatMap(schemasIn)]
}

describe("the served OpenAPI document", () => {
  let server: ServerProcess
  let text: string
  let doc: Document
  beforeAll(async () => {
    // One registration per address, so the second one shows a real 429 and its headers.
    server = await startServer({ PUBLIC_URL, REGISTER_MAX_PER_ADDRESS: "1" })
    const reply = await request(`${server.url}/openapi.json`)
    expect(reply.status).toBe(200)
    text = reply.text
    doc = reply.json() as Document
  }, 120_000)
  afterAll(async () => {
    await server.stop()
  })

  it("has zero errors and zero warnings under Redocly's recommended ruleset", async () => {
    expect(await lint(text)).toEqual([])
  })

  it("names PUBLIC_URL as its server, and has a license, a contact and described tags and operations", () => {
    expect(doc.servers).toEqual([expect.objectContaining({ url: "https://focusforge.internal.test" })])
    expect(doc.info.license).toEqual(expect.objectContaining({ name: expect.any(String) }))
    expect(doc.info.contact).toEqual(expect.objectContaining({ name: expect.any(String) }))
    expect(doc.tags.filter((tag) => !tag.description)).toEqual([])
    expect(
      operations(doc)
        .filter(([, operation]) => !operation.description)
        .map(([name]) => name)
    ).toEqual([])
  })

  it("marks the metrics token optional (required only when METRICS_TOKEN is set)", async () => {
    const metrics = doc.paths["/metrics"]?.get as unknown as { security: unknown }
    expect(metrics.security).toEqual([{}, { metricsToken: [] }])
    // embedded default, no METRICS_TOKEN: open
    expect((await request(`${server.url}/metrics`)).status).toBe(200)
    const tasks = doc.paths["/api/v1/tasks"]?.get as unknown as { security: unknown }
    expect(tasks.security).toEqual([{ bearer: [] }])
  })

  it("types limit, offset and days as bounded integers, not number-like strings", () => {
    const query = operations(doc).flatMap(([, operation]) =>
      (operation.parameters ?? []).filter((parameter) => parameter.in === "query")
    )
    const byName = (name: string) => query.filter((parameter) => parameter.name === name).map((p) => p.schema)
    expect(byName("limit").length).toBeGreaterThanOrEqual(2)
    for (const schema of byName("limit")) {
      expect(schema).toEqual(
        expect.objectContaining({ type: "integer", format: "int32", minimum: 1, maximum: 100 })
      )
    }
    for (const schema of byName("offset")) {
      expect(schema).toEqual(expect.objectContaining({ type: "integer", format: "int32", minimum: 0 }))
    }
    expect(byName("days")).toEqual([expect.objectContaining({ type: "integer", minimum: 1, maximum: 365 })])
    expect(byName("from")).toEqual([expect.objectContaining({ type: "string", format: "date-time" })])
  })

  it("gives every integer a format and every instant format date-time", () => {
    const all = schemasIn(doc as unknown as Json)
    expect(all.filter((schema) => schema.type === "integer" && schema.format === undefined)).toEqual([])
    expect(doc.components.schemas.TimestampEncoded).toEqual({ type: "string", format: "date-time" })
    const task = doc.components.schemas.Task as { properties: Record<string, Schema> }
    expect(task.properties.tokens_earned).toEqual(
      expect.objectContaining({ type: "integer", format: "int64" })
    )
    const health = doc.components.schemas.HealthReport as { properties: Record<string, Schema> }
    expect(health.properties.checked_at).toEqual({ type: "string", format: "date-time" })
  })

  it("has no generated titles, single-element compositions or compositions with an any-value member", () => {
    const all = schemasIn(doc as unknown as Json)
    expect(all.filter((schema) => typeof schema.title === "string" && /\(|\)/.test(schema.title))).toEqual([])
    for (const keyword of ["allOf", "anyOf", "oneOf"]) {
      const compositions = all.map((schema) => schema[keyword]).filter(Array.isArray)
      expect(compositions.filter((members) => members.length < 2)).toEqual([])
      const anyValue = compositions.filter((members) =>
        members.some(
          (member) => typeof member === "object" && member !== null && Object.keys(member).length === 0
        )
      )
      expect(anyValue).toEqual([])
    }
  })
  it("declares x-request-id and x-instance-id on every response, as the server sends them", async () => {
    for (const [name, operation] of operations(doc)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        const headers = Object.keys(response.headers ?? {})
        expect({ name, status, headers }).toEqual({
          name,
          status,
          headers: expect.arrayContaining(["x-request-id", "x-instance-id"])
        })
      }
    }
    expect(doc.components.headers["x-request-id"]).toEqual(expect.objectContaining({ required: true }))
    const reply = await request(`${server.url}/health/live`)
    expect(reply.headers["x-request-id"]).toEqual(expect.any(String))
    expect(reply.headers["x-instance-id"]).toEqual(expect.any(String))
  })

  it("declares Retry-After on the 429 and 503 answers that send it, and a real 429 sends it", async () => {
    const retryAfter = { $ref: "#/components/headers/Retry-After" }
    const register = doc.paths["/api/v1/auth/register"]?.post
    expect(register?.responses["429"]?.headers?.["Retry-After"]).toEqual(retryAfter)
    expect(register?.responses["503"]?.headers?.["Retry-After"]).toEqual(retryAfter)
    expect(doc.paths["/api/v1/auth/login"]?.post?.responses["429"]?.headers?.["Retry-After"]).toEqual(
      retryAfter
    )
    expect(doc.paths["/api/v1/tasks"]?.get?.responses["503"]?.headers?.["Retry-After"]).toEqual(retryAfter)
    // /health's 503 is Unhealthy, which sends no Retry-After, or a store timeout, which does
    expect(doc.paths["/health"]?.get?.responses["503"]?.headers?.["Retry-After"]).toMatchObject({
      required: false
    })
    const account = () => ({
      email: `lint-${randomUUID()}@example.com`,
      password: "correct horse battery staple"
    })
    const first = await postJson(`${server.url}/api/v1/auth/register`, { ...account(), display_name: "Lint" })
    expect(first.status).toBe(201)
    const second = await postJson(`${server.url}/api/v1/auth/register`, {
      ...account(),
      display_name: "Lint"
    })
    expect(second.status).toBe(429)
    expect(second.headers["retry-after"]).toMatch(/^[1-9]\d*$/)
  })

  it("documents the chain endpoint as one typed path per chain the server registers", async () => {
    const status = (await request(`${server.url}/orchestrator/status`)).json() as {
      chains: ReadonlyArray<{ name: string }>
    }
    const prefix = "/api/v1/orchestrator/chains/execute/"
    const documented = Object.keys(doc.paths)
      .filter((path) => path.startsWith(prefix))
      .map((path) => path.slice(prefix.length))
    expect(documented.sort()).toEqual(status.chains.map((chain) => chain.name).sort())
    const breakdown = doc.paths[`${prefix}task_breakdown`]?.post as unknown as {
      parameters?: unknown
      requestBody: { content: { "application/json": { schema: Schema } } }
    }
    expect(breakdown.parameters).toBeUndefined()
    expect(breakdown.requestBody.content["application/json"].schema).toEqual(
      expect.objectContaining({ type: "object", required: ["title"] })
    )
  })
})

describe("serverUrl", () => {
  it("prefers PUBLIC_URL (without a trailing slash), else the listen address", () => {
    expect(serverUrl({ PUBLIC_URL: "https://api.example.org/", PORT: "9000" })).toBe(
      "https://api.example.org"
    )
    expect(serverUrl({})).toBe("http://127.0.0.1:8000")
    expect(serverUrl({ HOST: "0.0.0.0", PORT: "9000" })).toBe("http://127.0.0.1:9000")
    expect(serverUrl({ HOST: "10.1.2.3", PORT: "9000" })).toBe("http://10.1.2.3:9000")
    expect(serverUrl({ HOST: "::1", PORT: "9000" })).toBe("http://[::1]:9000")
  })

  it("names the server the document came from when the port is picked at start (PORT=0)", () => {
    expect(serverUrl({ HOST: "127.0.0.1", PORT: "0" })).toBe("/")
  })
})
