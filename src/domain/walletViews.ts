import { Schema } from "effect"
import { entryOf, Timestamp, utcDay } from "./common.ts"
import { BlockId, ItemId, RewardId, TaskId } from "./ids.ts"
import { ACHIEVEMENTS, AchievementId, currentStreak, levelFor } from "./rules.ts"
import type { WalletEvent, WalletState } from "./wallet.ts"

/** The wallet as `GET /store/profile` shows it. */
export const WalletProfile = Schema.Struct({
  balance: Schema.Int,
  total_earned: Schema.Int,
  total_spent: Schema.Int,
  level: Schema.Int,
  /** Lifetime earnings at which the next level is reached. */
  next_level_at: Schema.Int,
  streak_days: Schema.Int,
  achievements: Schema.Array(
    Schema.Struct({
      id: AchievementId,
      name: Schema.String,
      description: Schema.String,
      bonus: Schema.Int,
      unlocked_at: Timestamp
    })
  )
}).annotate({ identifier: "WalletProfile" })
export type WalletProfile = typeof WalletProfile.Type

/** Answers of `nextLevelAt` by level: a binary search over exact BigInt levels runs on every profile read. */
const nextLevelAtCache = new Map<number, number>()
/** Levels grow like total^0.6: even a billion tokens is level ~24,000. The bound is a safety net. */
const MAX_CACHED_LEVELS = 4096

/** Smallest total at which `levelFor` exceeds `level` (levels are reached at growing totals). */
export const nextLevelAt = (level: number): number => {
  const cached = nextLevelAtCache.get(level)
  if (cached !== undefined) return cached
  const total = searchNextLevelAt(level)
  if (nextLevelAtCache.size >= MAX_CACHED_LEVELS) nextLevelAtCache.clear()
  nextLevelAtCache.set(level, total)
  return total
}

const searchNextLevelAt = (level: number): number => {
  let lo = 0
  let hi = 50
  while (levelFor(hi) <= level) hi *= 2
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2)
    if (levelFor(mid) > level) hi = mid
    else lo = mid + 1
  }
  return lo
}

/** `at` decides whether the streak is still alive: a day without focus ends it. */
export const walletProfile = (state: WalletState, at: Date): WalletProfile => ({
  balance: state.balance,
  total_earned: state.total_earned,
  total_spent: state.total_spent,
  level: state.level,
  next_level_at: nextLevelAt(state.level),
  streak_days: currentStreak(state.last_active_day, state.streak_days, utcDay(at)),
  achievements: ACHIEVEMENTS.flatMap((a) => {
    const unlocked_at = entryOf(state.achievements, a.id)
    return unlocked_at === undefined
      ? []
      : [{ id: a.id, name: a.name, description: a.description, bonus: a.bonus, unlocked_at }]
  })
})

export const LedgerEntryType = Schema.Literals(["earning", "bonus", "purchase"])

/** One line of `GET /store/transactions`: signed amount, positive in, negative out. */
export const LedgerEntry = Schema.Struct({
  type: LedgerEntryType,
  source: Schema.String,
  amount: Schema.Int,
  task_id: Schema.NullOr(TaskId),
  block_id: Schema.NullOr(BlockId),
  item_id: Schema.NullOr(ItemId),
  reward_id: Schema.NullOr(RewardId),
  description: Schema.String,
  at: Timestamp
}).annotate({ identifier: "LedgerEntry" })
export type LedgerEntry = typeof LedgerEntry.Type

const none = { task_id: null, block_id: null, item_id: null, reward_id: null }

/** The ledger line for an event, or null for events that move no tokens (using a reward). */
export const ledgerEntry = (event: WalletEvent): LedgerEntry | null => {
  switch (event._tag) {
    case "TokensEarned":
      return {
        ...none,
        type: "earning",
        source: "block_completion",
        amount: event.amount,
        task_id: event.task_id,
        block_id: event.block_id,
        description: `${event.minutes}-minute ${event.difficulty} block`,
        at: event.at
      }
    case "StreakBonusAwarded":
      return {
        ...none,
        type: "bonus",
        source: "streak",
        amount: event.amount,
        description: `${event.streak_days}-day streak`,
        at: event.at
      }
    case "LevelUpBonusAwarded":
      return {
        ...none,
        type: "bonus",
        source: "level_up",
        amount: event.amount,
        description: `Reached level ${event.level}`,
        at: event.at
      }
    case "AchievementUnlocked":
      return {
        ...none,
        type: "bonus",
        source: "achievement",
        amount: event.amount,
        description: ACHIEVEMENTS.find((a) => a.id === event.achievement)?.name ?? event.achievement,
        at: event.at
      }
    case "ItemPurchased":
      return {
        ...none,
        type: "purchase",
        source: "store",
        amount: -event.cost,
        item_id: event.item_id,
        reward_id: event.reward_id,
        description: event.item_name,
        at: event.at
      }
    case "RewardUsed":
      return null
  }
}
