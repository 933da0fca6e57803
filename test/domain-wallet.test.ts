import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import { CATALOG } from "../src/domain/catalog.ts"
import { BlockId, RewardId, TaskId } from "../src/domain/ids.ts"
import {
  ACHIEVEMENTS,
  achievementBonus,
  levelFor,
  levelUpBonus,
  legacyTokensForBlock,
  payForBlock,
  streakBonus
} from "../src/domain/rules.ts"
import {
  CreditBlock,
  PurchaseItem,
  UseReward,
  type WalletCommand,
  WalletDecider,
  type WalletEvent,
  WalletEvent as WalletEventSchema,
  type WalletError,
  type WalletState
} from "../src/domain/wallet.ts"
import { ledgerEntry, walletProfile } from "../src/domain/walletViews.ts"
import { day, decideErr, decideOk, runCommands } from "./domain/support.ts"

const T0 = Date.UTC(2025, 0, 1)
const HOUR = 3_600_000

/**
 * Random wallet command sequences. Small id pools make retries (same block, same purchase id) and
 * uses of unknown or spent rewards common; time mostly moves forward in random steps of up to two
 * days (so streaks both grow and break), and sometimes jumps back (late, out-of-order commands).
 */
const commandsArb = fc
  .array(
    fc.record({
      kind: fc.constantFrom("credit", "credit", "credit", "credit", "purchase", "purchase", "use"),
      step: fc.integer({ min: -6, max: 40 }),
      task: fc.integer({ min: 1, max: 4 }),
      block: fc.integer({ min: 1, max: 12 }),
      minutes: fc.integer({ min: 1, max: 120 }),
      difficulty: fc.constantFrom("low" as const, "medium" as const, "high" as const),
      proof: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined, freq: 3 }),
      // Server time the block took, up to 2.5 h; absent = a completion recorded before the pay rule.
      elapsed: fc.option(fc.integer({ min: 0, max: 150 * 60_000 }), { nil: undefined, freq: 5 }),
      item: fc.oneof(
        fc.constantFrom(...CATALOG.map((i) => i.id as string)),
        fc.constant("no-such-item"),
        fc.constant("Movie Night")
      ),
      purchase: fc.integer({ min: 1, max: 30 })
    }),
    { minLength: 1, maxLength: 120 }
  )
  .map((raw) => {
    let t = T0
    return raw.map((r): WalletCommand => {
      t += r.step * HOUR
      const at = new Date(t)
      switch (r.kind) {
        case "credit":
          return CreditBlock.make({
            task_id: TaskId.make(`t${r.task}`),
            block_id: BlockId.make(`b${r.block}`),
            minutes: r.minutes,
            difficulty: r.difficulty,
            ...(r.proof === undefined ? {} : { proof_score: r.proof }),
            ...(r.elapsed === undefined ? {} : { elapsed_ms: r.elapsed }),
            at
          })
        case "purchase":
          return PurchaseItem.make({ purchase_id: RewardId.make(`p${r.purchase}`), item_id: r.item, at })
        default:
          return UseReward.make({ reward_id: RewardId.make(`p${r.purchase}`), at })
      }
    })
  })

const earnedBy = (e: WalletEvent): number =>
  e._tag === "TokensEarned" ||
  e._tag === "StreakBonusAwarded" ||
  e._tag === "LevelUpBonusAwarded" ||
  e._tag === "AchievementUnlocked"
    ? e.amount
    : 0

const check = (
  prop: (run: ReturnType<typeof runCommands<WalletState, WalletCommand, WalletEvent, WalletError>>) => void
) =>
  fc.assert(
    fc.property(commandsArb, (commands) => prop(runCommands(WalletDecider, commands))),
    { numRuns: 150 }
  )

describe("wallet properties over random command sequences", () => {
  it("balance = earned − spent ≥ 0 after every command, and the totals match the events", () => {
    check(({ steps }) => {
      let earned = 0
      let spent = 0
      for (const step of steps) {
        const events = Result.getOrElse(step.result, () => [])
        for (const e of events) {
          earned += earnedBy(e)
          if (e._tag === "ItemPurchased") spent += e.cost
        }
        expect(step.after.balance).toBe(step.after.total_earned - step.after.total_spent)
        expect(step.after.balance).toBeGreaterThanOrEqual(0)
        expect(step.after.total_earned).toBe(earned)
        expect(step.after.total_spent).toBe(spent)
      }
    })
  })

  it("a purchase fails with InsufficientFunds exactly when the balance is below the price (IdempotencyKeyReused for a key reused with another item)", () => {
    check(({ steps }) => {
      for (const { command, before, result } of steps) {
        if (command._tag !== "PurchaseItem") continue
        const item = CATALOG.find((i) => i.id === command.item_id || i.name === command.item_id)
        const earlier = Object.hasOwn(before.rewards, command.purchase_id)
          ? before.rewards[command.purchase_id]
          : undefined
        // The same key again is a retry when it names the same item, and refused when it names another.
        if (earlier !== undefined && earlier.item_id === item?.id) expect(result).toEqual(Result.succeed([]))
        else if (earlier !== undefined)
          expect(Result.isFailure(result) && result.failure._tag).toBe("IdempotencyKeyReused")
        else if (item === undefined)
          expect(Result.isFailure(result) && result.failure._tag).toBe("ItemNotFound")
        else if (before.balance < item.cost) {
          expect(Result.isFailure(result) && result.failure._tag).toBe("InsufficientFunds")
        } else expect(Result.isSuccess(result) && result.success[0]?._tag).toBe("ItemPurchased")
      }
    })
  })

  it("each achievement is unlocked at most once, with its fixed bonus", () => {
    check(({ events }) => {
      for (const a of ACHIEVEMENTS) {
        const unlocks = events.filter((e) => e._tag === "AchievementUnlocked" && e.achievement === a.id)
        expect(unlocks.length).toBeLessThanOrEqual(1)
        for (const u of unlocks)
          expect(u._tag === "AchievementUnlocked" && u.amount).toBe(achievementBonus(a.id))
      }
    })
  })

  it("achievements unlock when (and only after) their condition holds", () => {
    check(({ steps }) => {
      for (const { before, after } of steps) {
        if (after.total_spent >= 500 && before.achievements.big_spender === undefined) {
          expect(after.achievements.big_spender).toBeDefined()
        }
        if (Object.keys(after.rewards).length > 0) expect(after.achievements.first_purchase).toBeDefined()
        if (after.streak_days >= 7) expect(after.achievements.week_streak).toBeDefined()
        if (after.achievements.level_5 !== undefined) expect(after.level).toBeGreaterThanOrEqual(5)
        if (after.achievements.big_spender !== undefined)
          expect(after.total_spent).toBeGreaterThanOrEqual(500)
      }
    })
  })

  it("the streak bonus is paid at most once per day, min(streak × 2, 20), only from a 3-day streak", () => {
    check(({ events }) => {
      const bonuses = events.filter((e) => e._tag === "StreakBonusAwarded")
      const days = bonuses.map((b) => b._tag === "StreakBonusAwarded" && b.day)
      expect(new Set(days).size).toBe(days.length)
      for (const b of bonuses) {
        if (b._tag !== "StreakBonusAwarded") continue
        expect(b.streak_days).toBeGreaterThanOrEqual(3)
        expect(b.amount).toBe(Math.min(b.streak_days * 2, 20))
        expect(b.amount).toBe(streakBonus(b.streak_days))
      }
    })
  })

  it("level is the formula of total earned, and each level's bonus (level × 15) is paid once, in order", () => {
    check(({ steps, events }) => {
      for (const { before, after, result } of steps) {
        expect(after.level).toBe(levelFor(after.total_earned))
        expect(after.level_rewarded).toBeLessThanOrEqual(after.level)
        // Every level reached before a writing command's own bonuses (the earning, the streak bonus,
        // and whatever earlier commands' bonuses left pending) is rewarded by its end.
        if (Result.isFailure(result) || result.success.length === 0) continue
        // A block that paid nothing is not focus: it settles nothing (checked below).
        if (result.success.every((e) => e._tag === "TokensEarned" && e.amount === 0)) continue
        const primary = result.success
          .filter((e) => e._tag === "TokensEarned" || e._tag === "StreakBonusAwarded")
          .reduce((sum, e) => sum + earnedBy(e), 0)
        expect(after.level_rewarded).toBeGreaterThanOrEqual(levelFor(before.total_earned + primary))
      }
      const levels = events.flatMap((e) => (e._tag === "LevelUpBonusAwarded" ? [e] : []))
      expect(levels.map((l) => l.level)).toEqual(levels.map((_, i) => i + 2))
      for (const l of levels) expect(l.amount).toBe(levelUpBonus(l.level))
    })
  })

  it("a block pays once however often it is credited, and exactly the pay rule (legacy rule without a time)", () => {
    check(({ steps, events }) => {
      const paid = events.flatMap((e) => (e._tag === "TokensEarned" ? [`${e.task_id}/${e.block_id}`] : []))
      expect(new Set(paid).size).toBe(paid.length)
      for (const { command, result } of steps) {
        if (command._tag !== "CreditBlock" || Result.isFailure(result)) continue
        const expected =
          command.elapsed_ms === undefined
            ? legacyTokensForBlock(command)
            : payForBlock({ ...command, elapsed_ms: command.elapsed_ms }).tokens
        const earned = result.success.filter((e) => e._tag === "TokensEarned")
        for (const e of earned) expect(e._tag === "TokensEarned" && e.amount).toBe(expected)
      }
    })
  })

  it("a block that paid nothing counts for no streak, level or achievement (property)", () => {
    check(({ steps }) => {
      for (const { command, before, after, result } of steps) {
        if (command._tag !== "CreditBlock" || Result.isFailure(result)) continue
        const earned = result.success.find((e) => e._tag === "TokensEarned")
        if (earned?._tag !== "TokensEarned" || earned.amount > 0) continue
        expect(result.success).toHaveLength(1)
        expect(after.streak_days).toBe(before.streak_days)
        expect(after.last_active_day).toBe(before.last_active_day)
        expect(after.level_rewarded).toBe(before.level_rewarded)
        expect(after.achievements).toEqual(before.achievements)
        expect(after.balance).toBe(before.balance)
      }
    })
  })

  it("one command pays a bounded number of times (no bonus feedback loop)", () => {
    check(({ steps }) => {
      for (const { result } of steps) {
        const payouts = Result.getOrElse(result, () => []).filter((e) => earnedBy(e) > 0)
        // one earn + one streak bonus + a few level-ups + at most four achievements
        expect(payouts.length).toBeLessThanOrEqual(10)
      }
    })
  })

  it("a reward is used at most once and never after it expired", () => {
    check(({ steps }) => {
      const used = new Set<string>()
      for (const { command, before, result } of steps) {
        if (command._tag !== "UseReward") continue
        const reward = before.rewards[command.reward_id]
        if (Result.isSuccess(result)) {
          expect(used.has(command.reward_id)).toBe(false)
          used.add(command.reward_id)
          expect(reward).toBeDefined()
          if (reward?.expires_at) expect(command.at.getTime()).toBeLessThan(reward.expires_at.getTime())
        } else {
          const tag = result.failure._tag
          if (reward === undefined) expect(tag).toBe("RewardNotFound")
          else if (reward.used_at !== null) expect(tag).toBe("RewardAlreadyUsed")
          else expect(tag).toBe("RewardExpired")
        }
      }
    })
  })

  it("replaying the events through their JSON encoding rebuilds the same state", () => {
    const encode = Schema.encodeSync(WalletEventSchema)
    const decode = Schema.decodeUnknownSync(WalletDecider.event)
    check(({ state, events }) => {
      const stored = events.map((e) => JSON.parse(JSON.stringify(encode(e))))
      expect(
        stored.map((json) => decode(json)).reduce(WalletDecider.evolve, WalletDecider.initialState)
      ).toEqual(state)
      const snapshot = JSON.parse(JSON.stringify(Schema.encodeSync(WalletDecider.state)(state)))
      expect(Schema.decodeUnknownSync(WalletDecider.state)(snapshot)).toEqual(state)
    })
  })

  it("the ledger sums to the balance", () => {
    check(({ state, events }) => {
      const lines = events.flatMap((e) => {
        const line = ledgerEntry(e)
        return line === null ? [] : [line]
      })
      expect(lines.reduce((sum, l) => sum + l.amount, 0)).toBe(state.balance)
    })
  })
})

describe("wallet examples", () => {
  /** A credit for a block that took its planned minutes (full pay), or `elapsed_ms` when given. */
  const credit = (
    block: string,
    at: Date,
    minutes = 25,
    difficulty: "low" | "medium" | "high" = "medium",
    elapsed_ms = minutes * 60_000
  ) =>
    CreditBlock.make({
      task_id: TaskId.make("t"),
      block_id: BlockId.make(block),
      minutes,
      difficulty,
      elapsed_ms,
      at
    })

  it("pays a 90-minute high task's blocks per formula and the level-up bonus at 50 earned", () => {
    const minutes = [23, 23, 22, 22]
    const { state, events } = runCommands(
      WalletDecider,
      minutes.map((m, i) => credit(`b${i}`, day(0), m, "high"))
    )
    const earned = events.flatMap((e) => (e._tag === "TokensEarned" ? [e.amount] : []))
    expect(earned).toEqual([29, 29, 28, 28])
    // 58 earned → level 2 (+30); 145 + 30 = 144 < 158 → still level 2.
    expect(events.filter((e) => e._tag === "LevelUpBonusAwarded")).toEqual([
      expect.objectContaining({ level: 2, amount: 30 })
    ])
    expect(state.balance).toBe(114 + 30)
    expect(state.level).toBe(2)
  })

  it("pays by server time: nothing under a minute, partial before 80 %, and a proof only adds", () => {
    const once = (command: CreditBlock) => decideOk(WalletDecider, WalletDecider.initialState, command)
    expect(once(credit("b1", day(0), 25, "medium", 30_000)).events).toEqual([
      expect.objectContaining({ _tag: "TokensEarned", amount: 0, elapsed_ms: 30_000, proof_bonus: 0 })
    ])
    expect(once(credit("b1", day(0), 25, "medium", 10 * 60_000)).state.balance).toBe(12)
    const proved = once({ ...credit("b1", day(0), 25, "medium"), proof_score: 1 })
    expect(proved.events[0]).toMatchObject({ _tag: "TokensEarned", amount: 32, proof_bonus: 7 })
  })

  it("a block that paid nothing neither extends the streak nor earns its bonus", () => {
    const twoDays = runCommands(WalletDecider, [credit("a", day(0)), credit("b", day(1))]).state
    expect(twoDays.streak_days).toBe(2)
    // Day 2: a too-short block would have made it a 3-day streak (+6); it counts for nothing.
    const short = decideOk(WalletDecider, twoDays, credit("c", day(2), 25, "medium", 0))
    expect(short.events.map((e) => e._tag)).toEqual(["TokensEarned"])
    expect(short.state).toMatchObject({
      streak_days: 2,
      last_active_day: twoDays.last_active_day,
      balance: twoDays.balance
    })
    // The block is closed: a retry after the fact pays nothing either.
    expect(decideOk(WalletDecider, short.state, credit("c", day(2), 25, "medium")).events).toEqual([])
    // A level crossed earlier is not settled by a block that paid nothing.
    const pending: WalletState = { ...WalletDecider.initialState, balance: 60, total_earned: 60, level: 2 }
    expect(decideOk(WalletDecider, pending, credit("z", day(0), 25, "medium", 0)).events).toEqual([
      expect.objectContaining({ _tag: "TokensEarned", amount: 0 })
    ])
  })

  it("a completion recorded before the pay rule (no elapsed time) is credited by the legacy rule", () => {
    const legacy = CreditBlock.make({
      task_id: TaskId.make("t"),
      block_id: BlockId.make("old"),
      minutes: 25,
      difficulty: "high",
      proof_score: 0.5,
      at: day(0)
    })
    const { events } = decideOk(WalletDecider, WalletDecider.initialState, legacy)
    expect(events[0]).toMatchObject({ _tag: "TokensEarned", amount: 16 })
    expect(events[0]).not.toHaveProperty("elapsed_ms")
  })

  it("pays a block once when credited twice", () => {
    const first = decideOk(WalletDecider, WalletDecider.initialState, credit("b1", day(0)))
    const again = decideOk(WalletDecider, first.state, credit("b1", day(0, 13)))
    expect(again.events).toEqual([])
    expect(again.state.balance).toBe(25)
  })

  it("a week of daily focus pays streak bonuses 6, 8, 10, 12, 14 and week_streak once", () => {
    const { state, events } = runCommands(WalletDecider, [
      ...Array.from({ length: 7 }, (_, d) => credit(`d${d}`, day(d))),
      credit("d6-second", day(6, 18)),
      credit("d7", day(7))
    ])
    const streak = events.flatMap((e) => (e._tag === "StreakBonusAwarded" ? [e.amount] : []))
    expect(streak).toEqual([6, 8, 10, 12, 14, 16])
    expect(events.filter((e) => e._tag === "AchievementUnlocked")).toEqual([
      expect.objectContaining({ achievement: "week_streak", amount: 25 })
    ])
    expect(state.streak_days).toBe(8)
    expect(walletProfile(state, day(9)).streak_days).toBe(0)
    expect(walletProfile(state, day(8)).streak_days).toBe(8)
  })

  it("a gap restarts the streak", () => {
    const { state, events } = runCommands(WalletDecider, [
      credit("a", day(0)),
      credit("b", day(1)),
      credit("c", day(3)),
      credit("d", day(4))
    ])
    expect(state.streak_days).toBe(2)
    expect(events.filter((e) => e._tag === "StreakBonusAwarded")).toEqual([])
  })

  it("refuses a purchase the balance cannot cover, without writing anything", () => {
    const funded = runCommands(WalletDecider, [credit("b1", day(0), 25)]).state
    const err = decideErr(
      WalletDecider,
      funded,
      PurchaseItem.make({ purchase_id: RewardId.make("p1"), item_id: "movie-night", at: day(0) })
    )
    expect(err).toMatchObject({ _tag: "InsufficientFunds", details: { balance: 25, required: 120 } })
  })

  it("purchases from a 30-token balance stop with InsufficientFunds (first_purchase's +10 buys one more)", () => {
    const start: WalletState = { ...WalletDecider.initialState, balance: 30, total_earned: 30 }
    const { steps, state } = runCommands(
      WalletDecider,
      Array.from({ length: 5 }, (_, i) =>
        PurchaseItem.make({ purchase_id: RewardId.make(`p${i}`), item_id: "quick-break-5m", at: day(0) })
      ),
      start
    )
    expect(steps.map((s) => Result.isSuccess(s.result))).toEqual([true, true, true, true, false])
    expect(state.achievements.first_purchase).toBeDefined()
    expect(state.total_spent).toBe(40)
    expect(state.balance).toBe(0)
  })

  it("first purchase unlocks first_purchase once; spending 500 unlocks big_spender once", () => {
    const rich: WalletState = {
      ...WalletDecider.initialState,
      balance: 1000,
      total_earned: 1000,
      level: 7,
      level_rewarded: 7,
      achievements: { level_5: day(0) }
    }
    const { events, state } = runCommands(
      WalletDecider,
      Array.from({ length: 5 }, (_, i) =>
        PurchaseItem.make({ purchase_id: RewardId.make(`p${i}`), item_id: "movie-night", at: day(0) })
      ),
      rich
    )
    const unlocked = events.flatMap((e) => (e._tag === "AchievementUnlocked" ? [e.achievement] : []))
    expect(unlocked).toEqual(["first_purchase", "big_spender"])
    expect(state.total_spent).toBe(600)
    expect(state.balance).toBe(1000 + 10 + 50 - 600)
  })

  it("reaching level 5 pays the level-up bonus and level_5 once, and nothing loops", () => {
    const near: WalletState = {
      ...WalletDecider.initialState,
      balance: 500,
      total_earned: 500,
      level: 4,
      level_rewarded: 4
    }
    const { events, state } = decideOk(WalletDecider, near, credit("b1", day(0), 25))
    expect(events.map((e) => e._tag)).toEqual(["TokensEarned", "LevelUpBonusAwarded", "AchievementUnlocked"])
    expect(state.balance).toBe(500 + 25 + 75 + 100)
    // The next earn pays no achievement again.
    const next = decideOk(WalletDecider, state, credit("b2", day(0, 13), 25))
    expect(next.events.filter((e) => e._tag === "AchievementUnlocked")).toEqual([])
  })

  it("a purchased timed reward is active, usable once, and expires after 7 days", () => {
    const funded = runCommands(WalletDecider, [credit("b1", day(0), 25)]).state
    const bought = decideOk(
      WalletDecider,
      funded,
      PurchaseItem.make({ purchase_id: RewardId.make("r1"), item_id: "Quick Break (5m)", at: day(0) })
    )
    const reward = bought.state.rewards[RewardId.make("r1")]
    expect(reward?.expires_at).toEqual(new Date(day(0).getTime() + 7 * 86_400_000))
    const use = (at: Date) => UseReward.make({ reward_id: RewardId.make("r1"), at })
    expect(decideErr(WalletDecider, bought.state, use(day(7)))).toMatchObject({ _tag: "RewardExpired" })
    const used = decideOk(WalletDecider, bought.state, use(day(6)))
    expect(used.events).toEqual([expect.objectContaining({ _tag: "RewardUsed" })])
    expect(decideErr(WalletDecider, used.state, use(day(6, 13)))).toMatchObject({ _tag: "RewardAlreadyUsed" })
    expect(
      decideErr(WalletDecider, used.state, UseReward.make({ reward_id: RewardId.make("zz"), at: day(6) }))
    ).toMatchObject({ _tag: "RewardNotFound" })
  })

  it("a reward without a duration never expires", () => {
    const funded = runCommands(WalletDecider, [credit("b1", day(0), 25)]).state
    const bought = decideOk(
      WalletDecider,
      funded,
      PurchaseItem.make({ purchase_id: RewardId.make("r1"), item_id: "snack-attack", at: day(0) })
    )
    expect(bought.state.rewards[RewardId.make("r1")]?.expires_at).toBeNull()
    const used = decideOk(
      WalletDecider,
      bought.state,
      UseReward.make({ reward_id: RewardId.make("r1"), at: day(400) })
    )
    expect(used.events).toHaveLength(1)
  })

  it("no wallet command carries an amount a client could choose", () => {
    const commandFields = [CreditBlock, PurchaseItem, UseReward].flatMap((s) => Object.keys(s.fields))
    expect(commandFields).not.toContain("amount")
    expect(commandFields).not.toContain("cost")
    expect(commandFields).not.toContain("tokens")
  })
})
