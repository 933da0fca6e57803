import { Schema } from "effect"
import type { Difficulty } from "./common.ts"
import { daysBetween } from "./common.ts"

/** Blocks the breakdown chain proposes are 25–45 minutes, with a 5-minute break after each. */
export const BLOCK_MIN_MINUTES = 25
export const BLOCK_MAX_MINUTES = 45
export const BREAK_MINUTES = 5
export const DEFAULT_DURATION_MINUTES = 25

/**
 * Bounds on what a task may ask for. A task longer than 10 hours is a project: it should be split
 * into tasks. A block never exceeds 2 hours, whatever the breakdown proposes, and a task has at most
 * 24 blocks (10 h / 25 min): enough for any sane plan, and a cap on how much one command can write.
 */
export const TASK_MIN_MINUTES = 1
export const TASK_MAX_MINUTES = 600
export const BLOCK_LIMIT_MINUTES = 120
export const MAX_BLOCKS_PER_TASK = 24

export const TaskDuration = Schema.Int.check(
  Schema.isBetween({ minimum: TASK_MIN_MINUTES, maximum: TASK_MAX_MINUTES })
).annotate({
  identifier: "TaskDuration"
})
export const BlockMinutes = Schema.Int.check(
  Schema.isBetween({ minimum: 1, maximum: BLOCK_LIMIT_MINUTES })
).annotate({
  identifier: "BlockMinutes"
})

/**
 * The heuristic breakdown used when no model is available: `max(1, round(d / 25))` blocks (JavaScript
 * rounding: halves round up) sharing the duration in whole minutes. Sizes differ by at most one
 * minute, larger first, and always sum to the task's duration, so no planned focus time is lost.
 * For short tasks a block may be under 25 minutes: the count formula wins over the 25–45 guide.
 */
export const heuristicBlockCount = (durationMinutes: number): number =>
  Math.max(1, Math.round(durationMinutes / BLOCK_MIN_MINUTES))

export const heuristicBreakdown = (durationMinutes: number): ReadonlyArray<number> => {
  const count = heuristicBlockCount(durationMinutes)
  const base = Math.floor(durationMinutes / count)
  const remainder = durationMinutes - base * count
  return Array.from({ length: count }, (_, i) => (i < remainder ? base + 1 : base))
}

/** Planned start offsets (minutes from the task's start) of blocks separated by 5-minute breaks. */
export const scheduleOffsets = (blockMinutes: ReadonlyArray<number>): ReadonlyArray<number> => {
  const offsets: Array<number> = []
  let at = 0
  for (const minutes of blockMinutes) {
    offsets.push(at)
    at += minutes + BREAK_MINUTES
  }
  return offsets
}

/** Percent, not a float factor: `floor(minutes × 1.3)` in floating point is off by one for some inputs. */
const DIFFICULTY_PERCENT: Record<Difficulty, number> = { low: 80, medium: 100, high: 130 }

export const MIN_TOKENS_PER_BLOCK = 10

/** A block's full pay: `max(10, floor(minutes × {low 0.8, medium 1.0, high 1.3}))`. */
export const tokensForBlock = (input: {
  readonly minutes: number
  readonly difficulty: Difficulty
}): number =>
  Math.max(MIN_TOKENS_PER_BLOCK, Math.floor((input.minutes * DIFFICULTY_PERCENT[input.difficulty]) / 100))

/**
 * The rule completions were paid by before server time decided: the full pay, scaled down by the proof
 * score when a proof was given. Kept only to credit completions recorded by earlier builds (their
 * events carry no start time) exactly as those builds computed them; nothing new is paid by it.
 */
export const legacyTokensForBlock = (input: {
  readonly minutes: number
  readonly difficulty: Difficulty
  readonly proof_score?: number | undefined
}): number => {
  const full = tokensForBlock(input)
  if (input.proof_score === undefined) return full
  return Math.floor(full * Math.min(1, Math.max(0, input.proof_score)))
}

/** Focus under one minute is not a block: it pays nothing, whatever was planned. */
export const MIN_PAID_ELAPSED_MS = 60_000
/** Full pay from 80 % of the planned minutes on (4/5, kept as integers so the rule is exact). */
const FULL_PAY_SHARE = { numerator: 4, denominator: 5 } as const
/** A validated proof adds up to 30 % of the time-based pay, in proportion to its score. */
export const MAX_PROOF_BONUS_PERCENT = 30

export const PayReason = Schema.Literals(["full", "partial", "too_short"]).annotate({
  identifier: "PayReason"
})
export type PayReason = typeof PayReason.Type

/** What a block paid and why: the answer to every completion. `tokens = time_tokens + proof_bonus`. */
export const BlockPay = Schema.Struct({
  /** What the block pays by its minutes and difficulty when at least 80 % of them were spent. */
  full_tokens: Schema.Int,
  /** Server time from the block's start to its completion, in minutes (two decimals, rounded down). */
  elapsed_minutes: Schema.Number,
  planned_minutes: Schema.Int,
  reason: PayReason,
  /** The pay for the time spent, before any proof bonus. */
  time_tokens: Schema.Int,
  /** `floor(time_tokens × 0.3 × score)` for a validated proof; 0 without one. */
  proof_bonus: Schema.Int
}).annotate({ identifier: "BlockPay" })
export type BlockPay = typeof BlockPay.Type

/** The pay for the time spent: full from 80 % of the plan, proportional before, nothing under a minute. */
const timePay = (
  full: number,
  elapsedMs: number,
  plannedMs: number
): { tokens: number; reason: PayReason } => {
  if (elapsedMs < MIN_PAID_ELAPSED_MS) return { tokens: 0, reason: "too_short" }
  const threshold = plannedMs * FULL_PAY_SHARE.numerator
  if (elapsedMs * FULL_PAY_SHARE.denominator >= threshold) return { tokens: full, reason: "full" }
  // floor(full × elapsed / (0.8 × planned)) in integers: every factor is a safe integer.
  return {
    tokens: Math.floor((full * elapsedMs * FULL_PAY_SHARE.denominator) / threshold),
    reason: "partial"
  }
}

/**
 * A proof can only add: `floor(pay × 0.3 × score)`, so a missing, blank or rejected proof (score 0)
 * costs nothing and a convincing one adds at most 30 %. Nothing to add to a block that paid nothing.
 */
export const proofBonus = (pay: number, proofScore: number | undefined): number =>
  proofScore === undefined
    ? 0
    : Math.floor((pay * MAX_PROOF_BONUS_PERCENT * Math.min(1, Math.max(0, proofScore))) / 100)

/**
 * Tokens for a completed block, decided by server time. `elapsed_ms` is the time from the block's start
 * to its completion on the server's clock (a negative span, from a clock step back, counts as none).
 * The 10-token floor applies to full pay only, so a partial pay is always below the full one.
 */
export const payForBlock = (input: {
  readonly minutes: number
  readonly difficulty: Difficulty
  readonly elapsed_ms: number
  readonly proof_score?: number | undefined
}): BlockPay & { readonly tokens: number } => {
  const full = tokensForBlock(input)
  const elapsedMs = Math.max(0, input.elapsed_ms)
  const time = timePay(full, elapsedMs, input.minutes * 60_000)
  const bonus = proofBonus(time.tokens, input.proof_score)
  return {
    tokens: time.tokens + bonus,
    full_tokens: full,
    elapsed_minutes: Math.floor(elapsedMs / 600) / 100,
    planned_minutes: input.minutes,
    reason: time.reason,
    time_tokens: time.tokens,
    proof_bonus: bonus
  }
}

/**
 * Level `floor((total_earned / 50) ^ 0.6) + 1`, computed exactly. In floating point
 * `(1600 / 50) ^ 0.6` is 7.999…, which would deny level 9 at exactly 1600 tokens. Level `k + 1`
 * is reached when `(t/50)^0.6 ≥ k`, i.e. `t^3 ≥ 50^3 · k^5`, which BigInt decides without rounding.
 */
export const levelFor = (totalEarned: number): number => {
  const t = BigInt(Math.max(0, Math.floor(totalEarned)))
  const t3 = t * t * t
  const reaches = (k: bigint) => 125_000n * k ** 5n <= t3
  // (t/50)^0.6 grows slowly; start from the float estimate and correct it exactly.
  let k = BigInt(Math.max(0, Math.floor((Number(t) / 50) ** 0.6)))
  while (k > 0n && !reaches(k)) k -= 1n
  while (reaches(k + 1n)) k += 1n
  return Number(k) + 1
}

export const levelUpBonus = (newLevel: number): number => newLevel * 15

export const STREAK_BONUS_MIN_DAYS = 3

/** `min(streak × 2, 20)` once per day from a 3-day streak on; nothing for shorter streaks. */
export const streakBonus = (streakDays: number): number =>
  streakDays >= STREAK_BONUS_MIN_DAYS ? Math.min(streakDays * 2, 20) : 0

/**
 * The streak after activity on `day`, given the last active day and the streak then. Consecutive
 * days extend it, a gap restarts it at 1, a second activity on the same day leaves it as it is.
 * Activity dated before the last active day (a late, out-of-order command) changes nothing: the
 * streak only ever looks forward.
 */
export const nextStreak = (lastDay: string | null, streak: number, day: string): number => {
  if (lastDay === null) return 1
  const gap = daysBetween(lastDay, day)
  if (gap <= 0) return streak
  return gap === 1 ? streak + 1 : 1
}

/** The streak as it should be displayed on `day`: it lapses once a whole day passed without activity. */
export const currentStreak = (lastDay: string | null, streak: number, day: string): number =>
  lastDay !== null && daysBetween(lastDay, day) <= 1 ? streak : 0

export const AchievementId = Schema.Literals(["first_purchase", "big_spender", "week_streak", "level_5"])
export type AchievementId = typeof AchievementId.Type

export interface AchievementDefinition {
  readonly id: AchievementId
  readonly name: string
  readonly description: string
  readonly bonus: number
}

export const BIG_SPENDER_THRESHOLD = 500
export const WEEK_STREAK_DAYS = 7
export const LEVEL_5 = 5

export const ACHIEVEMENTS: ReadonlyArray<AchievementDefinition> = [
  { id: "first_purchase", name: "First Purchase", description: "Bought a first reward", bonus: 10 },
  {
    id: "big_spender",
    name: "Big Spender",
    description: `Spent ${BIG_SPENDER_THRESHOLD} tokens in total`,
    bonus: 50
  },
  {
    id: "week_streak",
    name: "Week Streak",
    description: `Focused ${WEEK_STREAK_DAYS} days in a row`,
    bonus: 25
  },
  { id: "level_5", name: "Level 5", description: `Reached level ${LEVEL_5}`, bonus: 100 }
]

export const achievementBonus = (id: AchievementId): number =>
  ACHIEVEMENTS.find((a) => a.id === id)?.bonus ?? 0

/** Rewards with a duration must be used within a week of purchase. */
export const REWARD_VALIDITY_DAYS = 7
