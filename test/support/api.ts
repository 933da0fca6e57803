import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { type Reply, request } from "./http.ts"

/** The JWT secret test servers run with, so tests can mint expired or forged tokens. */
export const TEST_JWT_SECRET = "api-test-secret-that-is-at-least-32-characters"

export interface Envelope {
  readonly _tag: string
  readonly message: string
  readonly details?: unknown
}

/** A JSON call to the API as a user (or anonymously): `body` is sent as JSON when given. */
export const call = (
  base: string,
  method: string,
  path: string,
  options: {
    readonly token?: string
    readonly body?: unknown
    readonly raw?: string
    readonly headers?: Record<string, string>
    /** See `request`: the loopback address the call comes from. */
    readonly localAddress?: string
  } = {}
): Promise<Reply> =>
  request(`${base}${path}`, {
    method,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    headers: {
      ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
      ...(options.body === undefined && options.raw === undefined
        ? {}
        : { "content-type": "application/json" }),
      ...options.headers
    },
    ...(options.raw !== undefined
      ? { body: options.raw }
      : options.body === undefined
        ? {}
        : { body: JSON.stringify(options.body) })
  })

export interface TestUser {
  readonly id: string
  readonly email: string
  readonly password: string
  readonly token: string
}

export const registerUser = async (base: string, name = "Tester"): Promise<TestUser> => {
  const email = `${name.toLowerCase()}-${randomUUID()}@example.com`
  const password = "correct horse battery"
  const reply = await call(base, "POST", "/api/v1/auth/register", {
    body: { email, password, display_name: name }
  })
  if (reply.status !== 201) throw new Error(`register: ${reply.status} ${reply.text}`)
  const body = reply.json() as { user: { id: string }; access_token: string }
  return { id: body.user.id, email, password, token: body.access_token }
}

export interface BlockJson {
  readonly id: string
  readonly status: string
  readonly duration_minutes: number
  readonly tokens_earned: number | null
}
export interface TaskJson {
  readonly id: string
  readonly status: string
  readonly title: string
  readonly difficulty: "low" | "medium" | "high"
  readonly blocks: ReadonlyArray<BlockJson>
}

export const createTask = async (
  base: string,
  token: string,
  body: Record<string, unknown>
): Promise<TaskJson> => {
  const reply = await call(base, "POST", "/api/v1/tasks", { token, body })
  if (reply.status !== 201) throw new Error(`create task: ${reply.status} ${reply.text}`)
  return reply.json() as TaskJson
}

/** Starts then completes a block; answers the completion's body. */
/**
 * Moves the test server's clock forward (`test/support/testServer.ts` only): server time decides a
 * block's pay, and a test over real HTTP cannot wait out a 25-minute block.
 */
export const advanceClock = async (base: string, minutes: number): Promise<number> => {
  const reply = await call(base, "POST", `/test/clock/advance?minutes=${minutes}`)
  if (reply.status !== 200) {
    throw new Error(`advancing the clock needs the test server (test/support/testServer.ts): ${reply.status}`)
  }
  return (reply.json() as { offset_ms: number }).offset_ms
}

/** "Now" on the test server's clock (which tests may have moved ahead of the wall clock), in ms. */
export const serverNow = async (base: string): Promise<number> => Date.now() + (await advanceClock(base, 0))

/**
 * Starts a block, lets its planned minutes pass on the test server's clock, and completes it: the block
 * earns its full pay. Needs a server started from `test/support/testServer.ts`.
 */
export const focus = async (base: string, token: string, taskId: string, blockId: string) => {
  const started = await call(base, "POST", `/api/v1/tasks/${taskId}/blocks/${blockId}/start`, { token })
  if (started.status !== 200) throw new Error(`start: ${started.status} ${started.text}`)
  await advanceClock(base, (started.json() as { block: BlockJson }).block.duration_minutes)
  const done = await call(base, "POST", `/api/v1/tasks/${taskId}/blocks/${blockId}/complete`, {
    token,
    body: {}
  })
  if (done.status !== 200) throw new Error(`complete: ${done.status} ${done.text}`)
  return done.json() as {
    tokens_earned: number
    bonus_tokens: number
    balance: number
    task: TaskJson
    pay: { reason: string; full_tokens: number }
  }
}

/** How many events the server's SQLite file holds (read-only; WAL lets it read beside the server). */
export const countEvents = (dataDir: string): number => {
  const db = new DatabaseSync(join(dataDir, "focusforge.db"), { readOnly: true })
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM events").get() as { n: number } | undefined)?.n ?? 0
  } finally {
    db.close()
  }
}
