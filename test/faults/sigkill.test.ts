import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { achievementBonus, levelFor, levelUpBonus } from "../../src/domain/rules.ts"
import { call, registerUser, type TestUser } from "../support/api.ts"
import { type Load, type LoadClient, startLoad, waitUntil } from "../support/load.ts"
import { type ServerProcess, startServer, tempDataDir } from "../support/server.ts"
import { DatabaseSync } from "node:sqlite"

/**
 * (d) The server is SIGKILLed while clients complete blocks (and spend tokens) for many users, then
 * restarted on the same DATA_DIR. The event store must be consistent, every acknowledged write must be
 * there, and once the block credit process manager has caught up each wallet must be exact: one credit
 * per completed block, of the block's tokens, plus the bonuses the rules grant, minus what was bought.
 */

const USERS = 24
const CLIENTS = 8

interface Row {
  readonly position: number
  readonly stream_id: string
  readonly version: number
  readonly type: string
  readonly data: string
}

/** Every event of the server's SQLite file, read-only beside the running server (WAL). */
const readEvents = (dataDir: string): ReadonlyArray<Row> => {
  const db = new DatabaseSync(join(dataDir, "focusforge.db"), { readOnly: true })
  try {
    return db
      .prepare("SELECT position, stream_id, version, type, data FROM events ORDER BY position")
      .all() as unknown as ReadonlyArray<Row>
  } finally {
    db.close()
  }
}

/** What the clients saw succeed before the kill. */
interface Acks {
  readonly tasks: Array<{ readonly user: string; readonly task: string }>
  readonly completions: Array<{
    readonly user: string
    readonly task: string
    readonly block: string
    readonly tokens: number
  }>
  readonly purchases: Array<{ readonly user: string; readonly reward: string }>
}

const TASK_SHAPES = [
  { duration_minutes: 10, difficulty: "low" },
  { duration_minutes: 30, difficulty: "medium" },
  { duration_minutes: 50, difficulty: "high" }
] as const

/** A user's round: create a task, focus through its blocks, now and then buy something small. */
const earnRound =
  (usersOf: (client: number) => ReadonlyArray<TestUser>, acks: Acks) =>
  async (client: LoadClient, round: number) => {
    const mine = usersOf(client.index)
    const user = mine[round % mine.length]!
    const token = user.token
    const shape = TASK_SHAPES[(round + client.index) % TASK_SHAPES.length]!
    const task = (
      await client.call("tasks.create", "POST", "/api/v1/tasks", {
        token,
        body: { title: `Earn ${round}`, ...shape }
      })
    ).json() as { id: string; blocks: ReadonlyArray<{ id: string; duration_minutes: number }> }
    acks.tasks.push({ user: user.id, task: task.id })
    for (const block of task.blocks) {
      await client.call("block.start", "POST", `/api/v1/tasks/${task.id}/blocks/${block.id}/start`, { token })
      // The block's minutes pass on the test server's clock, so it earns (blocks pay by server time).
      // Through the load client, which knows a request the kill cuts off is no wrong answer.
      await client.call("test.clock", "POST", `/test/clock/advance?minutes=${block.duration_minutes}`, {})
      const done = (
        await client.call("block.complete", "POST", `/api/v1/tasks/${task.id}/blocks/${block.id}/complete`, {
          token,
          body: { effort_rating: 6 }
        })
      ).json() as { tokens_earned: number }
      acks.completions.push({ user: user.id, task: task.id, block: block.id, tokens: done.tokens_earned })
    }
    if (round % 3 === 2) {
      const reward = randomUUID()
      const bought = await client.call(
        "store.purchase",
        "POST",
        "/api/v1/store/purchase/focus-music-premium",
        {
          token,
          headers: { "idempotency-key": reward },
          expect: [409]
        }
      )
      if (bought.status === 201) acks.purchases.push({ user: user.id, reward })
    }
  }

describe("fault: SIGKILL mid-load and restart on the same DATA_DIR", () => {
  const dataDir = tempDataDir()
  const running: Array<ServerProcess> = []
  let load: Load | undefined
  afterAll(async () => {
    await load?.stop()
    await Promise.all(running.map((s) => s.stop("SIGKILL")))
  })

  it("the store is consistent, nothing acknowledged is lost, every wallet is exact", async () => {
    // The test server, whose clock the rounds move; tokens outlive the hours the clock runs ahead.
    const first = await startServer(
      { DATA_DIR: dataDir, JWT_TTL_SECONDS: String(60 * 86_400) },
      { entry: "test/support/testServer.ts" }
    )
    running.push(first)
    const users = await Promise.all(
      Array.from({ length: USERS }, (_, i) => registerUser(first.url, `Earner${i}`))
    )
    const usersOf = (client: number) => users.filter((_, i) => i % CLIENTS === client)
    const acks: Acks = { tasks: [], completions: [], purchases: [] }
    const started = startLoad({
      base: first.url,
      clients: CLIENTS,
      round: earnRound(usersOf, acks),
      maxMs: 90_000,
      maxRequests: 20_000
    })
    load = started

    await waitUntil(
      "blocks completed before the kill",
      async () => acks.completions.length,
      (n) => n >= 150
    )
    first.child.kill("SIGKILL")
    started.halt()
    expect(await first.exited).toBe("SIGKILL")
    await started.stop()
    // No request got a wrong answer; those the kill cut ended without a (complete) one.
    const cut = started.failures()
    expect(
      cut.filter((s) => s.outcome?.kind === "response"),
      started.summary()
    ).toEqual([])
    expect(acks.purchases.length).toBeGreaterThan(0)

    // Blocks whose completion was stored but whose credit the kill cut off (the request appends to the
    // task, then credits the wallet).
    const uncredited = () => {
      const events = readEvents(dataDir)
      const credited = new Set(
        events
          .filter((e) => e.type === "TokensEarned")
          .map((e) => JSON.parse(e.data) as { task_id: string; block_id: string })
          .map((e) => `${e.task_id}/${e.block_id}`)
      )
      return events
        .filter((e) => e.type === "BlockCompleted")
        .map((e) => JSON.parse(e.data) as { task_id: string; block_id: string })
        .filter((e) => !credited.has(`${e.task_id}/${e.block_id}`)).length
    }
    const leftAtKill = uncredited()

    const second = await startServer({ DATA_DIR: dataDir })
    running.push(second)
    // The block credit process manager pays them: wait (bounded) until every completed block is credited.
    await waitUntil(
      "every completed block credited",
      async () => uncredited(),
      (n) => n === 0,
      20_000,
      200
    )

    const events = readEvents(dataDir)

    // Every stream's versions are 1..n without a gap or a duplicate.
    const versions = new Map<string, Array<number>>()
    for (const e of events) versions.set(e.stream_id, [...(versions.get(e.stream_id) ?? []), e.version])
    const broken = [...versions].filter(([, vs]) => vs.some((v, i) => v !== i + 1))
    expect(broken).toEqual([])

    const byStream = (id: string) => events.filter((e) => e.stream_id === id)
    const dataOf = <A>(e: Row) => JSON.parse(e.data) as A

    // Nothing acknowledged is lost.
    for (const ack of acks.tasks) {
      expect(byStream(`task-${ack.task}`)[0]?.type, `task ${ack.task}`).toBe("TaskCreated")
    }
    for (const ack of acks.completions) {
      const completed = byStream(`task-${ack.task}`)
        .filter((e) => e.type === "BlockCompleted")
        .map((e) => dataOf<{ block_id: string; tokens_earned: number }>(e))
        .find((e) => e.block_id === ack.block)
      expect(completed?.tokens_earned, `block ${ack.task}/${ack.block}`).toBe(ack.tokens)
    }
    for (const ack of acks.purchases) {
      const rewards = byStream(`wallet-${ack.user}`)
        .filter((e) => e.type === "ItemPurchased")
        .map((e) => dataOf<{ reward_id: string }>(e).reward_id)
      expect(rewards, `purchase ${ack.reward}`).toContain(ack.reward)
    }

    // Through the API of the new process too.
    const byTask = new Map<string, Array<Acks["completions"][number]>>()
    for (const ack of acks.completions) byTask.set(ack.task, [...(byTask.get(ack.task) ?? []), ack])
    for (const [task, blocks] of byTask) {
      const reply = await call(second.url, "GET", `/api/v1/tasks/${task}`, {
        token: users.find((u) => u.id === blocks[0]!.user)!.token
      })
      expect(reply.status).toBe(200)
      const view = reply.json() as {
        blocks: ReadonlyArray<{ id: string; status: string; tokens_earned: number | null }>
      }
      for (const ack of blocks) {
        expect(view.blocks.find((b) => b.id === ack.block)).toMatchObject({
          status: "completed",
          tokens_earned: ack.tokens
        })
      }
    }

    // Each wallet is exact.
    const completedBy = new Map<string, Map<string, number>>()
    for (const e of events.filter((e) => e.type === "BlockCompleted")) {
      const block = dataOf<{ user_id: string; task_id: string; block_id: string; tokens_earned: number }>(e)
      const blocks = completedBy.get(block.user_id) ?? new Map<string, number>()
      expect(blocks.has(`${block.task_id}/${block.block_id}`)).toBe(false)
      blocks.set(`${block.task_id}/${block.block_id}`, block.tokens_earned)
      completedBy.set(block.user_id, blocks)
    }
    let creditsChecked = 0
    for (const user of users) {
      const wallet = byStream(`wallet-${user.id}`)
      const earned = wallet
        .filter((e) => e.type === "TokensEarned")
        .map((e) => dataOf<{ task_id: string; block_id: string; amount: number }>(e))
      const paid = new Map(earned.map((e) => [`${e.task_id}/${e.block_id}`, e.amount]))
      // One credit per completed block (no block paid twice, none lost), of exactly the block's tokens.
      expect(earned).toHaveLength(paid.size)
      expect(paid, `credits of ${user.id}`).toEqual(completedBy.get(user.id) ?? new Map())
      creditsChecked += paid.size

      const blockTokens = earned.reduce((sum, e) => sum + e.amount, 0)
      const levelUps = wallet
        .filter((e) => e.type === "LevelUpBonusAwarded")
        .map((e) => dataOf<{ level: number; amount: number }>(e))
      const achievements = wallet
        .filter((e) => e.type === "AchievementUnlocked")
        .map((e) =>
          dataOf<{
            achievement: "first_purchase" | "big_spender" | "week_streak" | "level_5"
            amount: number
          }>(e)
        )
      const streaks = wallet
        .filter((e) => e.type === "StreakBonusAwarded")
        .map((e) => dataOf<{ amount: number }>(e))
      const spent = wallet
        .filter((e) => e.type === "ItemPurchased")
        .reduce((sum, e) => sum + dataOf<{ cost: number }>(e).cost, 0)
      const bonuses =
        levelUps.reduce((sum, e) => sum + e.amount, 0) +
        achievements.reduce((sum, e) => sum + e.amount, 0) +
        streaks.reduce((sum, e) => sum + e.amount, 0)
      const totalEarned = blockTokens + bonuses
      // The bonuses are the ones the rules grant for that much earned and spent, each once.
      const level = levelFor(totalEarned)
      expect(levelUps).toEqual(
        Array.from({ length: level - 1 }, (_, i) => ({ level: i + 2, amount: levelUpBonus(i + 2) })).map(
          (l) => expect.objectContaining(l)
        )
      )
      for (const a of achievements) expect(a.amount).toBe(achievementBonus(a.achievement))
      expect(new Set(achievements.map((a) => a.achievement)).size).toBe(achievements.length)
      expect(achievements.some((a) => a.achievement === "first_purchase")).toBe(spent > 0)

      const profile = await call(second.url, "GET", "/api/v1/store/profile", { token: user.token })
      expect(profile.status).toBe(200)
      const { balance } = profile.json() as { balance: number }
      expect(balance, `balance of ${user.id}`).toBe(blockTokens + bonuses - spent)
    }
    expect(creditsChecked).toBeGreaterThanOrEqual(acks.completions.length)
    console.info(
      `SIGKILL mid-load: ${acks.completions.length} completions, ${acks.purchases.length} purchases acknowledged; ` +
        `${creditsChecked} credits checked, ${leftAtKill} left uncredited by the kill, ` +
        `${cut.length} requests cut by the kill (${started.samples.length} sent)`
    )
  })
})
