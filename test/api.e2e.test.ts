import { Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { tokensForBlock } from "../src/domain/rules.ts"
import { type Claims, makeJwtCodec } from "../src/layers/auth/Jwt.ts"
import {
  type BlockJson,
  call,
  createTask,
  type Envelope,
  advanceClock,
  focus,
  registerUser,
  serverNow,
  TEST_JWT_SECRET,
  type TaskJson
} from "./support/api.ts"
import { type ServerProcess, startServer } from "./support/server.ts"

/** A token as the server would sign it with `secret` (default issuer and audience). */
const issue = (secret: Redacted.Redacted<string>, claims: Claims) =>
  makeJwtCodec({ secret, previousSecrets: [], issuer: "focusforge", audience: "focusforge" }).issue(claims)

interface Profile {
  balance: number
  total_earned: number
  total_spent: number
  level: number
  achievements: ReadonlyArray<{ id: string }>
}
interface LedgerJson {
  items: ReadonlyArray<{ type: string; source: string; amount: number; block_id: string | null }>
  total: number
}

describe("the FocusForge API through real HTTP", () => {
  let server: ServerProcess
  let base: string
  beforeAll(async () => {
    // The test server: the API as main.ts serves it, plus a clock tests can move (blocks pay by server time);
    // a minute's wait after 5 failed logins (default 1 s), so the throttle test below never races the KDF.
    server = await startServer(
      { JWT_SECRET: TEST_JWT_SECRET, LOGIN_BASE_DELAY_MS: "60000" },
      { entry: "test/support/testServer.ts" }
    )
    base = server.url
  }, 60_000)
  afterAll(async () => {
    await server.stop()
  })

  it("register → 90-min high task → 4 blocks → earn per formula → buy Quick Break → use it; ledger and profile agree", async () => {
    const user = await registerUser(base, "Ann")
    const me = await call(base, "GET", "/api/v1/auth/me", { token: user.token })
    expect(me.status).toBe(200)
    expect(me.json()).toMatchObject({ id: user.id, email: user.email, display_name: "Ann" })

    const task = await createTask(base, user.token, {
      title: "Write the quarterly report",
      duration_minutes: 90,
      difficulty: "high"
    })
    expect(task.status).toBe("pending")
    expect(task.blocks.map((b) => b.duration_minutes)).toEqual([23, 23, 22, 22])

    let bonuses = 0
    let last: Awaited<ReturnType<typeof focus>> | undefined
    for (const block of task.blocks) {
      last = await focus(base, user.token, task.id, block.id)
      expect(last.tokens_earned).toBe(tokensForBlock({ minutes: block.duration_minutes, difficulty: "high" }))
      bonuses += last.bonus_tokens
    }
    const earnedByBlocks = [29, 29, 28, 28].reduce((a, b) => a + b, 0)
    expect(last?.balance).toBe(earnedByBlocks + bonuses)
    expect(last?.task.status).toBe("completed")

    const fetched = (
      await call(base, "GET", `/api/v1/tasks/${task.id}`, { token: user.token })
    ).json() as TaskJson
    expect(fetched.status).toBe("completed")
    expect(fetched.blocks.every((b) => b.status === "completed")).toBe(true)

    const bought = await call(base, "POST", "/api/v1/store/purchase/quick-break-5m", { token: user.token })
    expect(bought.status).toBe(201)
    const purchase = bought.json() as {
      reward: { id: string; status: string; item_name: string }
      balance: number
    }
    expect(purchase.reward).toMatchObject({ status: "active", item_name: "Quick Break (5m)" })
    // Quick Break costs 10; the first purchase unlocks first_purchase (+10).
    expect(purchase.balance).toBe(earnedByBlocks + bonuses - 10 + 10)

    const active = (
      await call(base, "GET", "/api/v1/store/rewards/active", { token: user.token })
    ).json() as {
      rewards: ReadonlyArray<{ id: string }>
    }
    expect(active.rewards.map((r) => r.id)).toEqual([purchase.reward.id])
    const used = await call(base, "POST", `/api/v1/store/rewards/${purchase.reward.id}/use`, {
      token: user.token
    })
    expect(used.status).toBe(200)
    expect((used.json() as { status: string }).status).toBe("used")
    const again = await call(base, "POST", `/api/v1/store/rewards/${purchase.reward.id}/use`, {
      token: user.token
    })
    expect(again.status).toBe(409)
    expect((again.json() as Envelope)._tag).toBe("RewardAlreadyUsed")
    const after = (await call(base, "GET", "/api/v1/store/rewards/active", { token: user.token })).json() as {
      rewards: ReadonlyArray<unknown>
    }
    expect(after.rewards).toEqual([])

    const profile = (
      await call(base, "GET", "/api/v1/store/profile", { token: user.token })
    ).json() as Profile
    const ledger = (
      await call(base, "GET", "/api/v1/store/transactions?limit=100", { token: user.token })
    ).json() as LedgerJson
    const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
    expect(profile.balance).toBe(purchase.balance)
    expect(sum(ledger.items.map((e) => e.amount))).toBe(profile.balance)
    expect(sum(ledger.items.filter((e) => e.amount > 0).map((e) => e.amount))).toBe(profile.total_earned)
    expect(-sum(ledger.items.filter((e) => e.amount < 0).map((e) => e.amount))).toBe(profile.total_spent)
    expect(profile.total_spent).toBe(10)
    expect(
      ledger.items
        .filter((e) => e.source === "block_completion")
        .map((e) => e.amount)
        .sort()
    ).toEqual([28, 28, 29, 29])
    expect(profile.achievements.map((a) => a.id)).toContain("first_purchase")

    const dashboard = (await call(base, "GET", "/api/v1/tasks/dashboard", { token: user.token })).json() as {
      balance: number
      today: { blocks_completed: number; tokens_earned: number }
    }
    expect(dashboard.balance).toBe(profile.balance)
    expect(dashboard.today).toMatchObject({ blocks_completed: 4, tokens_earned: earnedByBlocks })
  })

  it("lists tasks filtered by status and paged by limit/offset, newest first", async () => {
    const user = await registerUser(base, "Lister")
    const tasks: Array<TaskJson> = []
    for (let i = 0; i < 5; i++) tasks.push(await createTask(base, user.token, { title: `Task ${i}` }))
    const ids = tasks.map((t) => t.id)
    const first = await focus(base, user.token, tasks[0]?.id as string, tasks[0]?.blocks[0]?.id as string)
    expect(first.task.status).toBe("completed")
    const page = (
      await call(base, "GET", "/api/v1/tasks?limit=2&offset=1", { token: user.token })
    ).json() as {
      items: ReadonlyArray<TaskJson>
      total: number
    }
    expect(page.total).toBe(5)
    expect(page.items.map((t) => t.id)).toEqual([ids[3], ids[2]])
    const completed = (
      await call(base, "GET", "/api/v1/tasks?status=completed", { token: user.token })
    ).json() as {
      items: ReadonlyArray<TaskJson>
    }
    expect(completed.items.map((t) => t.id)).toEqual([ids[0]])
    const deleted = await call(base, "DELETE", `/api/v1/tasks/${ids[4]}`, { token: user.token })
    expect(deleted.status).toBe(204)
    expect((await call(base, "GET", `/api/v1/tasks/${ids[4]}`, { token: user.token })).status).toBe(404)
    const rest = (await call(base, "GET", "/api/v1/tasks", { token: user.token })).json() as { total: number }
    expect(rest.total).toBe(4)
    const bad = await call(base, "GET", "/api/v1/tasks?limit=0&offset=-1&status=nope", { token: user.token })
    expect(bad.status).toBe(400)
    const issues = (bad.json() as { details: { issues: ReadonlyArray<{ path: ReadonlyArray<string> }> } })
      .details.issues
    expect(new Set(issues.map((i) => i.path[0]))).toEqual(new Set(["limit", "offset", "status"]))
  })

  it("updates a task: a new duration re-cuts the blocks until one has started", async () => {
    const user = await registerUser(base, "Editor")
    const task = await createTask(base, user.token, { title: "Draft", duration_minutes: 50 })
    expect(task.blocks).toHaveLength(2)
    const put = await call(base, "PUT", `/api/v1/tasks/${task.id}`, {
      token: user.token,
      body: { title: "Final draft", duration_minutes: 100 }
    })
    expect(put.status).toBe(200)
    const updated = put.json() as TaskJson
    expect(updated.title).toBe("Final draft")
    expect(updated.blocks).toHaveLength(4)
    await call(base, "POST", `/api/v1/tasks/${task.id}/blocks/${updated.blocks[0]?.id}/start`, {
      token: user.token
    })
    const late = await call(base, "PUT", `/api/v1/tasks/${task.id}`, {
      token: user.token,
      body: { difficulty: "high" }
    })
    expect(late.status).toBe(409)
    expect((late.json() as Envelope)._tag).toBe("InvalidTransition")
  })

  it("logs moods, answers history by date range and insights", async () => {
    const user = await registerUser(base, "Moody")
    for (const score of [4, 6, 8]) {
      const logged = await call(base, "POST", "/api/v1/mood", {
        token: user.token,
        body: { score, energy: 5, stress: 3, note: `felt ${score}` }
      })
      expect(logged.status).toBe(201)
    }
    const history = (await call(base, "GET", "/api/v1/mood", { token: user.token })).json() as {
      items: ReadonlyArray<{ score: number }>
    }
    expect(history.items.map((e) => e.score).sort()).toEqual([4, 6, 8])
    // An hour past the server's now (other tests move the test server's clock ahead).
    const future = new Date((await serverNow(base)) + 3_600_000).toISOString()
    const none = (
      await call(base, "GET", `/api/v1/mood?from=${encodeURIComponent(future)}`, { token: user.token })
    ).json() as {
      total: number
    }
    expect(none.total).toBe(0)
    const insights = (await call(base, "GET", "/api/v1/mood/insights", { token: user.token })).json() as {
      entries_count: number
      trend: string
    }
    expect(insights.entries_count).toBe(3)
    expect(insights.trend).not.toBe("insufficient_data")
  })

  it("serves the catalog: 18 items in 6 categories", async () => {
    const user = await registerUser(base, "Shopper")
    const items = (await call(base, "GET", "/api/v1/store/items", { token: user.token })).json() as {
      total: number
    }
    expect(items.total).toBe(18)
    const rest = (
      await call(base, "GET", "/api/v1/store/items?category=rest", { token: user.token })
    ).json() as {
      items: ReadonlyArray<{ category: string }>
    }
    expect(rest.items.length).toBeGreaterThan(0)
    expect(rest.items.every((i) => i.category === "rest")).toBe(true)
    const categories = (
      await call(base, "GET", "/api/v1/store/categories", { token: user.token })
    ).json() as {
      categories: ReadonlyArray<{ item_count: number }>
    }
    expect(categories.categories).toHaveLength(6)
    expect(categories.categories.reduce((a, c) => a + c.item_count, 0)).toBe(18)
  })

  it("50 concurrent purchases the balance covers 3 times: exactly 3 succeed, the rest 409, balance exact", async () => {
    const user = await registerUser(base, "Spender")
    // Two 25-minute medium blocks: 25 + 25 tokens, and reaching level 2 at 50 pays 2 × 15.
    for (let i = 0; i < 2; i++) {
      const task = await createTask(base, user.token, { title: `Earn ${i}` })
      await focus(base, user.token, task.id, task.blocks[0]?.id as string)
    }
    const before = (await call(base, "GET", "/api/v1/store/profile", { token: user.token })).json() as Profile
    expect(before.balance).toBe(80)
    // Extended Break costs 25: 80 − 25 + 10 (first_purchase) − 25 − 25 = 15 < 25.
    const replies = await Promise.all(
      Array.from({ length: 50 }, () =>
        call(base, "POST", "/api/v1/store/purchase/extended-break-15m", { token: user.token })
      )
    )
    const statuses = replies.map((r) => r.status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(3)
    expect(statuses.filter((s) => s === 409)).toHaveLength(47)
    for (const reply of replies.filter((r) => r.status === 409)) {
      expect((reply.json() as Envelope)._tag).toBe("InsufficientFunds")
    }
    const after = (await call(base, "GET", "/api/v1/store/profile", { token: user.token })).json() as Profile
    expect(after.balance).toBe(15)
    expect(after.total_spent).toBe(75)
    const active = (
      await call(base, "GET", "/api/v1/store/rewards/active", { token: user.token })
    ).json() as {
      rewards: ReadonlyArray<unknown>
    }
    expect(active.rewards).toHaveLength(3)
  })

  it("an Idempotency-Key makes a retried purchase buy nothing twice", async () => {
    const user = await registerUser(base, "Retrier")
    const task = await createTask(base, user.token, { title: "Earn" })
    await focus(base, user.token, task.id, task.blocks[0]?.id as string)
    const key = randomUUID()
    const first = await call(base, "POST", "/api/v1/store/purchase/quick-break-5m", {
      token: user.token,
      headers: { "idempotency-key": key }
    })
    const second = await call(base, "POST", "/api/v1/store/purchase/quick-break-5m", {
      token: user.token,
      headers: { "idempotency-key": key }
    })
    expect(first.status).toBe(201)
    expect(second.status).toBe(201)
    expect((second.json() as { reward: { id: string } }).reward.id).toBe(key)
    const profile = (
      await call(base, "GET", "/api/v1/store/profile", { token: user.token })
    ).json() as Profile
    expect(profile.total_spent).toBe(10)
  })

  it("a block completed right after its start pays 0 and says why; partial before 80 %, full after", async () => {
    const user = await registerUser(base, "Hasty")
    const task = await createTask(base, user.token, { title: "Three blocks", duration_minutes: 75 })
    const [quick, partial, full] = task.blocks as ReadonlyArray<{ id: string; duration_minutes: number }>
    const complete = async (blockId: string, minutes: number, body: Record<string, unknown> = {}) => {
      const started = await call(base, "POST", `/api/v1/tasks/${task.id}/blocks/${blockId}/start`, {
        token: user.token
      })
      expect(started.status).toBe(200)
      if (minutes > 0) await advanceClock(base, minutes)
      const done = await call(base, "POST", `/api/v1/tasks/${task.id}/blocks/${blockId}/complete`, {
        token: user.token,
        body
      })
      expect(done.status).toBe(200)
      return done.json() as {
        tokens_earned: number
        balance: number
        pay: { reason: string; full_tokens: number; planned_minutes: number; proof_bonus: number }
      }
    }
    const fullTokens = tokensForBlock({ minutes: 25, difficulty: "medium" })
    const none = await complete(quick?.id as string, 0, { proof_text: "did it all, honestly" })
    expect(none).toMatchObject({
      tokens_earned: 0,
      balance: 0,
      pay: { reason: "too_short", full_tokens: fullTokens, planned_minutes: 25, proof_bonus: 0 }
    })
    const some = await complete(partial?.id as string, 10)
    expect(some).toMatchObject({ tokens_earned: 12, pay: { reason: "partial", elapsed_minutes: 10 } })
    const all = await complete(full?.id as string, 20)
    expect(all).toMatchObject({ tokens_earned: fullTokens, pay: { reason: "full", elapsed_minutes: 20 } })
    // The ledger shows the block that paid nothing as a zero line: it is closed, never paid later.
    const ledger = (
      await call(base, "GET", "/api/v1/store/transactions", { token: user.token })
    ).json() as LedgerJson
    expect(ledger.items.filter((e) => e.block_id === quick?.id).map((e) => e.amount)).toEqual([0])
  })

  it("complete-enhanced on a block never started is 409 BlockNotStarted, and the block stays pending", async () => {
    const user = await registerUser(base, "Skipper")
    const task = await createTask(base, user.token, { title: "Never started" })
    const block = task.blocks[0] as { id: string }
    const reply = await call(base, "POST", "/api/v1/orchestrator/tasks/complete-enhanced", {
      token: user.token,
      body: { task_id: task.id, block_id: block.id, proof_text: "I did the whole thing" }
    })
    expect(reply.status).toBe(409)
    expect(reply.json()).toMatchObject({
      _tag: "BlockNotStarted",
      message: expect.any(String),
      details: { task_id: task.id, block_id: block.id }
    })
    const direct = await call(base, "POST", `/api/v1/tasks/${task.id}/blocks/${block.id}/complete`, {
      token: user.token,
      body: {}
    })
    expect(direct.status).toBe(409)
    expect((direct.json() as Envelope)._tag).toBe("BlockNotStarted")
    const after = (
      await call(base, "GET", `/api/v1/tasks/${task.id}`, { token: user.token })
    ).json() as TaskJson
    expect(after.blocks[0]?.status).toBe("pending")
    const profile = (
      await call(base, "GET", "/api/v1/store/profile", { token: user.token })
    ).json() as Profile
    expect(profile.balance).toBe(0)
  })

  it("completing the same block 20 times concurrently pays it once", async () => {
    const user = await registerUser(base, "Hammer")
    const task = await createTask(base, user.token, {
      title: "Once",
      duration_minutes: 50,
      difficulty: "low"
    })
    const block = task.blocks[0] as { id: string; duration_minutes: number }
    await call(base, "POST", `/api/v1/tasks/${task.id}/blocks/${block.id}/start`, { token: user.token })
    await advanceClock(base, block.duration_minutes)
    const replies = await Promise.all(
      Array.from({ length: 20 }, () =>
        call(base, "POST", `/api/v1/tasks/${task.id}/blocks/${block.id}/complete`, {
          token: user.token,
          body: {}
        })
      )
    )
    expect(replies.filter((r) => r.status === 200)).toHaveLength(1)
    expect(replies.filter((r) => r.status === 409)).toHaveLength(19)
    const tokens = tokensForBlock({ minutes: block.duration_minutes, difficulty: "low" })
    const profile = (
      await call(base, "GET", "/api/v1/store/profile", { token: user.token })
    ).json() as Profile
    expect(profile.total_earned).toBe(tokens)
    const ledger = (
      await call(base, "GET", "/api/v1/store/transactions", { token: user.token })
    ).json() as LedgerJson
    expect(ledger.items.filter((e) => e.block_id === block.id)).toHaveLength(1)
  })

  it("isolation: user B gets 404 for every one of A's ids, and A's data is unchanged", async () => {
    const a = await registerUser(base, "Alice")
    const b = await registerUser(base, "Bob")
    const task = await createTask(base, a.token, { title: "Alice's secret", duration_minutes: 75 })
    const b0 = task.blocks[0] as BlockJson
    const b1 = task.blocks[1] as BlockJson
    await focus(base, a.token, task.id, b0.id)
    await call(base, "POST", `/api/v1/tasks/${task.id}/blocks/${b1.id}/start`, { token: a.token })
    await call(base, "POST", "/api/v1/mood", { token: a.token, body: { score: 7, energy: 6, stress: 2 } })
    const reward = (
      (await call(base, "POST", "/api/v1/store/purchase/quick-break-5m", { token: a.token })).json() as {
        reward: { id: string }
      }
    ).reward
    const snapshot = async () =>
      Promise.all(
        [
          `/api/v1/tasks/${task.id}`,
          "/api/v1/tasks",
          "/api/v1/store/profile",
          "/api/v1/store/rewards/active",
          "/api/v1/store/transactions",
          "/api/v1/mood"
        ].map(async (path) => (await call(base, "GET", path, { token: a.token })).text)
      )
    const before = await snapshot()

    const attempts: ReadonlyArray<[string, string, unknown?]> = [
      ["GET", `/api/v1/tasks/${task.id}`],
      ["PUT", `/api/v1/tasks/${task.id}`, { title: "Bob was here" }],
      ["DELETE", `/api/v1/tasks/${task.id}`],
      ["POST", `/api/v1/tasks/${task.id}/blocks/${b1.id}/start`],
      ["POST", `/api/v1/tasks/${task.id}/blocks/${b1.id}/complete`, {}],
      ["POST", `/api/v1/store/rewards/${reward.id}/use`]
    ]
    for (const [method, path, body] of attempts) {
      const reply = await call(base, method, path, {
        token: b.token,
        ...(body === undefined ? {} : { body })
      })
      expect(reply.status, `${method} ${path}`).toBe(404)
      expect((reply.json() as Envelope)._tag).toMatch(/NotFound$/)
    }
    // Routes scoped by the token alone show B only B's (empty) data.
    const bTasks = (await call(base, "GET", "/api/v1/tasks", { token: b.token })).json() as { total: number }
    expect(bTasks.total).toBe(0)
    const bProfile = (await call(base, "GET", "/api/v1/store/profile", { token: b.token })).json() as Profile
    expect(bProfile.balance).toBe(0)
    const bLedger = (
      await call(base, "GET", "/api/v1/store/transactions", { token: b.token })
    ).json() as LedgerJson
    expect(bLedger.total).toBe(0)
    const bRewards = (await call(base, "GET", "/api/v1/store/rewards/active", { token: b.token })).json() as {
      rewards: ReadonlyArray<unknown>
    }
    expect(bRewards.rewards).toEqual([])
    const bMood = (await call(base, "GET", "/api/v1/mood", { token: b.token })).json() as { total: number }
    expect(bMood.total).toBe(0)
    const bInsights = (await call(base, "GET", "/api/v1/mood/insights", { token: b.token })).json() as {
      entries_count: number
      blocks: { completed_in_window: number }
    }
    expect(bInsights).toMatchObject({ entries_count: 0, blocks: { completed_in_window: 0 } })
    const bDash = (await call(base, "GET", "/api/v1/tasks/dashboard", { token: b.token })).json() as {
      active_tasks: ReadonlyArray<unknown>
    }
    expect(bDash.active_tasks).toEqual([])

    expect(await snapshot()).toEqual(before)
  })

  describe("authentication", () => {
    const protectedRoutes: ReadonlyArray<[string, string]> = [
      ["GET", "/api/v1/auth/me"],
      ["POST", "/api/v1/auth/logout"],
      ["POST", "/api/v1/tasks"],
      ["GET", "/api/v1/tasks"],
      ["GET", "/api/v1/tasks/dashboard"],
      ["GET", "/api/v1/tasks/t1"],
      ["PUT", "/api/v1/tasks/t1"],
      ["DELETE", "/api/v1/tasks/t1"],
      ["POST", "/api/v1/tasks/t1/blocks/b1/start"],
      ["POST", "/api/v1/tasks/t1/blocks/b1/complete"],
      ["POST", "/api/v1/mood"],
      ["GET", "/api/v1/mood"],
      ["GET", "/api/v1/mood/insights"],
      ["GET", "/api/v1/store/items"],
      ["GET", "/api/v1/store/categories"],
      ["GET", "/api/v1/store/profile"],
      ["POST", "/api/v1/store/purchase/quick-break-5m"],
      ["GET", "/api/v1/store/rewards/active"],
      ["POST", "/api/v1/store/rewards/r1/use"],
      ["GET", "/api/v1/store/transactions"]
    ]

    const expect401 = async (token: string | undefined, label: string) => {
      for (const [method, path] of protectedRoutes) {
        const reply = await call(base, method, path, { ...(token === undefined ? {} : { token }), body: {} })
        expect(reply.status, `${label}: ${method} ${path}`).toBe(401)
        expect((reply.json() as Envelope)._tag).toBe("Unauthorized")
      }
    }

    it("refuses every protected route without a token, or with a malformed, forged, expired or unknown-user one", async () => {
      const user = await registerUser(base, "Victim")
      // The server's now: other tests move the test server's clock ahead of the wall clock.
      const now = Math.floor((await serverNow(base)) / 1000)
      const secret = Redacted.make(TEST_JWT_SECRET)
      await expect401(undefined, "no token")
      await expect401("not-a-jwt", "malformed")
      await expect401(
        issue(Redacted.make("another-secret-that-is-at-least-32-chars!!"), {
          sub: user.id,
          jti: randomUUID(),
          iat: now,
          exp: now + 3600
        }),
        "forged"
      )
      await expect401(
        issue(secret, { sub: user.id, jti: randomUUID(), iat: now - 7200, exp: now - 3600 }),
        "expired"
      )
      await expect401(
        issue(secret, { sub: randomUUID(), jti: randomUUID(), iat: now, exp: now + 3600 }),
        "unknown user"
      )
      // The same secret and claims, valid: the check above is about the token, not the route.
      const valid = issue(secret, { sub: user.id, jti: randomUUID(), iat: now, exp: now + 3600 })
      expect((await call(base, "GET", "/api/v1/auth/me", { token: valid })).status).toBe(200)
    })

    it("logout revokes the token server-side; a fresh login works", async () => {
      const user = await registerUser(base, "Leaver")
      expect((await call(base, "POST", "/api/v1/auth/logout", { token: user.token })).status).toBe(204)
      await expect401(user.token, "revoked")
      const login = await call(base, "POST", "/api/v1/auth/login", {
        body: { email: user.email.toUpperCase(), password: user.password }
      })
      expect(login.status).toBe(200)
      const token = (login.json() as { access_token: string }).access_token
      expect((await call(base, "GET", "/api/v1/auth/me", { token })).status).toBe(200)
    })

    it("an unknown email and a wrong password are the same 401; after 5 failures this address waits (429 + Retry-After)", async () => {
      const user = await registerUser(base, "Guessed")
      const unknown = await call(base, "POST", "/api/v1/auth/login", {
        body: { email: `nobody-${randomUUID()}@example.com`, password: "whatever-123" }
      })
      expect(unknown.status).toBe(401)
      expect((unknown.json() as Envelope)._tag).toBe("InvalidCredentials")
      for (let i = 0; i < 5; i++) {
        const wrong = await call(base, "POST", "/api/v1/auth/login", {
          body: { email: user.email, password: `wrong-${i}-pass` }
        })
        expect(wrong.status).toBe(401)
        expect((wrong.json() as Envelope)._tag).toBe("InvalidCredentials")
      }
      // Throttled per (email, address), not locked: test/login.http.test.ts shows other addresses get in.
      const throttled = await call(base, "POST", "/api/v1/auth/login", {
        body: { email: user.email, password: user.password }
      })
      expect(throttled.status).toBe(429)
      expect((throttled.json() as Envelope)._tag).toBe("LoginThrottled")
      expect(Number(throttled.headers["retry-after"])).toBeGreaterThan(0)
    })

    it("a second registration of an address is 409 EmailTaken, whatever its case", async () => {
      const user = await registerUser(base, "Taken")
      const again = await call(base, "POST", "/api/v1/auth/register", {
        body: { email: ` ${user.email.toUpperCase()} `, password: "another password", display_name: "Thief" }
      })
      expect(again.status).toBe(409)
      expect((again.json() as Envelope)._tag).toBe("EmailTaken")
    })
  })

  it("documents every endpoint in the OpenAPI document with security and error statuses", async () => {
    const spec = (await call(base, "GET", "/openapi.json")).json() as {
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>
      components: { securitySchemes?: Record<string, unknown> }
    }
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        "/api/v1/auth/register",
        "/api/v1/tasks/{task_id}/blocks/{block_id}/complete",
        "/api/v1/store/purchase/{item_id}",
        "/api/v1/mood/insights"
      ])
    )
    expect(spec.components.securitySchemes).toBeDefined()
    const purchase = spec.paths["/api/v1/store/purchase/{item_id}"]?.post
    expect(purchase?.security).toBeDefined()
    expect(Object.keys(purchase?.responses ?? {})).toEqual(
      expect.arrayContaining(["201", "400", "401", "404", "409", "503"])
    )
  })
})
