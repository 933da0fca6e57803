import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  call,
  countEvents,
  createTask,
  type Envelope,
  focus,
  registerUser,
  type TestUser
} from "./support/api.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

/** Values no field of ours accepts as the given kind. */
const notAString = fc.oneof(
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 })
)
const notANumber = fc.oneof(
  fc.string({ maxLength: 10 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 })
)
const huge = (over: number) => fc.integer({ min: over + 1, max: over + 100_000 }).map((n) => "x".repeat(n))
const outside = (min: number, max: number) =>
  fc.oneof(
    fc.integer({ min: -1_000_000, max: min - 1 }),
    fc.integer({ min: max + 1, max: 1_000_000_000 }),
    fc.double({ min: min + 0.01, max: max - 0.01, noInteger: true }),
    fc.constantFrom(Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER)
  )
const badInt = (min: number, max: number) => fc.oneof(notANumber, outside(min, max))
const badEmail = fc.oneof(
  notAString,
  huge(320),
  fc.string({ maxLength: 40 }).filter((s) => !s.includes("@"))
)
const blankOr = (max: number) => fc.oneof(notAString, huge(max), fc.constantFrom("", "   ", "\t"))

interface Route {
  readonly name: string
  readonly method: string
  readonly path: (ids: Ids) => string
  readonly valid: Record<string, unknown>
  /** For each field, values that make the body invalid whatever the others are. */
  readonly bad: Record<string, fc.Arbitrary<unknown>>
  readonly required: ReadonlyArray<string>
}

interface Ids {
  readonly taskId: string
  readonly blockId: string
}

const moodLevel = badInt(1, 10)

const routes: ReadonlyArray<Route> = [
  {
    name: "register",
    method: "POST",
    path: () => "/api/v1/auth/register",
    valid: { email: "fuzz@example.com", password: "long enough password", display_name: "Fuzz" },
    bad: {
      email: badEmail,
      password: fc.oneof(notAString, huge(256), fc.string({ maxLength: 7 })),
      display_name: blankOr(100)
    },
    required: ["email", "password", "display_name"]
  },
  {
    name: "login",
    method: "POST",
    path: () => "/api/v1/auth/login",
    valid: { email: "fuzz@example.com", password: "long enough password" },
    bad: { email: badEmail, password: fc.oneof(notAString, huge(256), fc.string({ maxLength: 7 })) },
    required: ["email", "password"]
  },
  {
    name: "create task",
    method: "POST",
    path: () => "/api/v1/tasks",
    valid: { title: "Fuzzed", description: "d", duration_minutes: 50, difficulty: "high" },
    bad: {
      title: blankOr(200),
      description: fc.oneof(notAString, huge(5000)),
      duration_minutes: badInt(1, 600),
      difficulty: fc.oneof(
        notAString,
        fc.string({ maxLength: 10 }).filter((s) => !["low", "medium", "high"].includes(s))
      )
    },
    required: ["title"]
  },
  {
    name: "update task",
    method: "PUT",
    path: (ids) => `/api/v1/tasks/${ids.taskId}`,
    valid: { title: "Renamed" },
    bad: {
      title: blankOr(200),
      description: fc.oneof(notAString, huge(5000)),
      duration_minutes: badInt(1, 600),
      difficulty: fc.oneof(notAString, fc.constantFrom("extreme", "HIGH", ""))
    },
    required: []
  },
  {
    name: "complete block",
    method: "POST",
    path: (ids) => `/api/v1/tasks/${ids.taskId}/blocks/${ids.blockId}/complete`,
    valid: { effort_rating: 5 },
    bad: { proof_text: fc.oneof(notAString, huge(5000)), effort_rating: badInt(1, 10) },
    required: []
  },
  {
    name: "log mood",
    method: "POST",
    path: () => "/api/v1/mood",
    valid: { score: 5, energy: 5, stress: 5, note: "ok" },
    bad: { score: moodLevel, energy: moodLevel, stress: moodLevel, note: fc.oneof(notAString, huge(1000)) },
    required: ["score", "energy", "stress"]
  }
]

type Attack =
  | { readonly kind: "field"; readonly route: Route; readonly fields: ReadonlyArray<[string, unknown]> }
  | { readonly kind: "missing"; readonly route: Route; readonly field: string }
  | { readonly kind: "notAnObject"; readonly route: Route; readonly body: unknown }
  | { readonly kind: "notJson"; readonly route: Route; readonly raw: string }

const attackOn = (route: Route): fc.Arbitrary<Attack> => {
  const fieldNames = Object.keys(route.bad)
  const field = fc
    .uniqueArray(fc.constantFrom(...fieldNames), { minLength: 1, maxLength: fieldNames.length })
    .chain((names) =>
      fc.tuple(...names.map((name) => fc.tuple(fc.constant(name), route.bad[name] as fc.Arbitrary<unknown>)))
    )
    .map((fields): Attack => ({ kind: "field", route, fields }))
  const options: Array<fc.Arbitrary<Attack>> = [
    field,
    fc
      .oneof(
        fc.integer(),
        fc.string({ maxLength: 20 }),
        fc.constant(null),
        fc.array(fc.integer(), { maxLength: 3 })
      )
      .map((body): Attack => ({ kind: "notAnObject", route, body })),
    fc
      .constantFrom("{", '{"title": }', "[1,", "nope", '{"a":1}}')
      .map((raw): Attack => ({ kind: "notJson", route, raw }))
  ]
  if (route.required.length > 0) {
    options.push(
      fc.constantFrom(...route.required).map((f): Attack => ({ kind: "missing", route, field: f }))
    )
  }
  return fc.oneof(...options)
}

/** Ids in paths that are not ids: too long, or outside the id alphabet. */
const badId = fc.oneof(
  fc.integer({ min: 65, max: 1500 }).map((n) => "a".repeat(n)),
  fc.constantFrom("a.b", "%20", "x%2Fy", "%C3%A9t%C3%A9", "a:b")
)

describe("bad input never reaches the domain", () => {
  let server: ServerProcess
  let user: TestUser
  let ids: Ids
  let rewardId: string
  beforeAll(async () => {
    // The test server, whose clock `focus` moves so the block earns the tokens the purchase needs.
    server = await startServer({}, { entry: "test/support/testServer.ts" })
    user = await registerUser(server.url, "Fuzzer")
    const earn = await createTask(server.url, user.token, { title: "Earn" })
    await focus(server.url, user.token, earn.id, earn.blocks[0]?.id as string)
    const bought = await call(server.url, "POST", "/api/v1/store/purchase/quick-break-5m", {
      token: user.token
    })
    rewardId = (bought.json() as { reward: { id: string } }).reward.id
    const task = await createTask(server.url, user.token, { title: "Target", duration_minutes: 50 })
    ids = { taskId: task.id, blockId: task.blocks[0]?.id as string }
    await call(server.url, "POST", `/api/v1/tasks/${ids.taskId}/blocks/${ids.blockId}/start`, {
      token: user.token
    })
  }, 60_000)
  afterAll(async () => {
    await server.stop()
  })

  const expectEnvelope4xx = (reply: { status: number; text: string }, label: string) => {
    expect(reply.status, `${label}: ${reply.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400)
    expect(reply.status, label).toBeLessThan(500)
    const body = JSON.parse(reply.text) as Envelope
    expect(typeof body._tag).toBe("string")
    expect(typeof body.message).toBe("string")
  }

  it("malformed bodies, wrong types, huge strings and out-of-range numbers on every write route: 4xx envelope, no event", async () => {
    const before = countEvents(server.dataDir)
    await fc.assert(
      fc.asyncProperty(fc.oneof(...routes.map(attackOn)), async (attack) => {
        const { route } = attack
        const path = route.path(ids)
        const token = route.name === "register" || route.name === "login" ? {} : { token: user.token }
        const reply =
          attack.kind === "notJson"
            ? await call(server.url, route.method, path, { ...token, raw: attack.raw })
            : await call(server.url, route.method, path, {
                ...token,
                body:
                  attack.kind === "notAnObject"
                    ? attack.body
                    : attack.kind === "missing"
                      ? Object.fromEntries(Object.entries(route.valid).filter(([k]) => k !== attack.field))
                      : { ...route.valid, ...Object.fromEntries(attack.fields) }
              })
        expectEnvelope4xx(reply, `${route.name} ${attack.kind}`)
      }),
      { numRuns: 250 }
    )
    expect(countEvents(server.dataDir)).toBe(before)
  }, 120_000)

  it("bad ids in paths and headers of every id-taking route: 4xx envelope, no event", async () => {
    const before = countEvents(server.dataDir)
    await fc.assert(
      fc.asyncProperty(badId, fc.constantFrom(0, 1, 2, 3, 4, 5, 6), async (id, which) => {
        const e = encodeURIComponent(id)
        const requests: ReadonlyArray<[string, string, unknown?, Record<string, string>?]> = [
          ["GET", `/api/v1/tasks/${e}`],
          ["PUT", `/api/v1/tasks/${e}`, { title: "x" }],
          ["DELETE", `/api/v1/tasks/${e}`],
          ["POST", `/api/v1/tasks/${ids.taskId}/blocks/${e}/start`],
          ["POST", `/api/v1/tasks/${e}/blocks/${ids.blockId}/complete`, {}],
          ["POST", `/api/v1/store/rewards/${e}/use`],
          ["POST", `/api/v1/store/purchase/${e}`, undefined, { "idempotency-key": id.slice(0, 200) }]
        ]
        const [method, path, body, headers] = requests[which] as (typeof requests)[number]
        const reply = await call(server.url, method, path, {
          token: user.token,
          ...(body === undefined ? {} : { body }),
          ...(headers === undefined ? {} : { headers })
        })
        expectEnvelope4xx(reply, `${method} ${path.slice(0, 80)}`)
      }),
      { numRuns: 120 }
    )
    // Well-formed ids that name nothing: 404, still nothing written.
    for (const [method, path] of [
      ["POST", "/api/v1/store/purchase/no-such-item"],
      ["POST", `/api/v1/store/rewards/${rewardId}x/use`],
      ["POST", `/api/v1/tasks/${ids.taskId}/blocks/nope/start`]
    ] as const) {
      const reply = await call(server.url, method, path, { token: user.token })
      expect(reply.status).toBe(404)
    }
    expect(countEvents(server.dataDir)).toBe(before)
  }, 120_000)
})
