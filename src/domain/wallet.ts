import { Result, Schema } from "effect"
import { Category, findItem } from "./catalog.ts"
import {
  compiledMake,
  Difficulty,
  entryOf,
  fromUnknown,
  ProofScore,
  Timestamp,
  Tokens,
  utcDay
} from "./common.ts"
import type { Decider } from "./Decider.ts"
import {
  type IdempotencyKeyReused,
  type InsufficientFunds,
  type ItemNotFound,
  idempotencyKeyReused,
  insufficientFunds,
  itemNotFound,
  type RewardAlreadyUsed,
  type RewardExpired,
  type RewardNotFound
} from "./errors.ts"
import { BlockId, ItemId, RewardId, TaskId } from "./ids.ts"
import { checkUse, expiryFor, Reward } from "./rewards.ts"
import { type BlockCompleted, elapsedMs } from "./task.ts"
import {
  ACHIEVEMENTS,
  AchievementId,
  BIG_SPENDER_THRESHOLD,
  BlockMinutes,
  LEVEL_5,
  levelFor,
  legacyTokensForBlock,
  levelUpBonus,
  nextStreak,
  payForBlock,
  streakBonus,
  WEEK_STREAK_DAYS
} from "./rules.ts"

/**
 * A user's wallet: balance, lifetime totals, level, streak, achievements and the rewards bought.
 * One aggregate per user, so every debit is decided against the latest balance and appended with an
 * expected version: concurrent purchases serialize and can never overspend.
 *
 * Tokens enter only through `CreditBlock`, which names a completed block and lets the wallet compute
 * the amount from the block's facts (minutes, difficulty, server time spent, proof score) with the pay
 * rule (`payForBlock`). There is no command that adds an
 * arbitrary amount, so no request can mint tokens. Bonuses are decided here, not asked for.
 */

// ---------------------------------------------------------------------------------------------
// Commands

export const CreditBlock = compiledMake(
  Schema.TaggedStruct("CreditBlock", {
    task_id: TaskId,
    block_id: BlockId,
    minutes: BlockMinutes,
    difficulty: Difficulty,
    proof_score: Schema.optionalKey(ProofScore),
    /**
     * Server time from the block's start to its completion. Absent only for completions recorded
     * before the pay rule (their events have no start), which are credited by the legacy rule.
     */
    elapsed_ms: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
    at: Timestamp
  })
)
export type CreditBlock = typeof CreditBlock.Type

/** `purchase_id` is chosen by the caller and becomes the reward's id; retrying it buys nothing twice. */
export const PurchaseItem = compiledMake(
  Schema.TaggedStruct("PurchaseItem", {
    purchase_id: RewardId,
    /** An item id, or an item's display name as the original API accepted; looked up in the catalog. */
    item_id: Schema.String.check(Schema.isMaxLength(100)),
    at: Timestamp
  })
)
export type PurchaseItem = typeof PurchaseItem.Type

export const UseReward = compiledMake(
  Schema.TaggedStruct("UseReward", { reward_id: RewardId, at: Timestamp })
)
export type UseReward = typeof UseReward.Type

export const WalletCommand = Schema.Union([CreditBlock, PurchaseItem, UseReward])
export type WalletCommand = typeof WalletCommand.Type

// ---------------------------------------------------------------------------------------------
// Events: every one that moves tokens is a ledger entry.

export const TokensEarned = compiledMake(
  Schema.TaggedStruct("TokensEarned", {
    task_id: TaskId,
    block_id: BlockId,
    minutes: Schema.Int,
    difficulty: Difficulty,
    proof_score: Schema.optionalKey(ProofScore),
    /** Server time the block took (absent in credits recorded before the pay rule). */
    elapsed_ms: Schema.optionalKey(Schema.Int),
    /** The part of `amount` a validated proof added (absent in credits recorded before the pay rule). */
    proof_bonus: Schema.optionalKey(Tokens),
    amount: Tokens,
    /** The streak after this activity (unchanged for a same-day or late activity). */
    streak_days: Schema.Int,
    at: Timestamp
  })
)
export type TokensEarned = typeof TokensEarned.Type

export const StreakBonusAwarded = compiledMake(
  Schema.TaggedStruct("StreakBonusAwarded", {
    day: Schema.String,
    streak_days: Schema.Int,
    amount: Tokens,
    at: Timestamp
  })
)
export type StreakBonusAwarded = typeof StreakBonusAwarded.Type

export const LevelUpBonusAwarded = compiledMake(
  Schema.TaggedStruct("LevelUpBonusAwarded", {
    level: Schema.Int,
    amount: Tokens,
    at: Timestamp
  })
)
export type LevelUpBonusAwarded = typeof LevelUpBonusAwarded.Type

export const AchievementUnlocked = compiledMake(
  Schema.TaggedStruct("AchievementUnlocked", {
    achievement: AchievementId,
    amount: Tokens,
    at: Timestamp
  })
)
export type AchievementUnlocked = typeof AchievementUnlocked.Type

export const ItemPurchased = compiledMake(
  Schema.TaggedStruct("ItemPurchased", {
    reward_id: RewardId,
    item_id: ItemId,
    item_name: Schema.String,
    category: Category,
    cost: Tokens,
    duration_minutes: Schema.NullOr(Schema.Int),
    expires_at: Schema.NullOr(Timestamp),
    at: Timestamp
  })
)
export type ItemPurchased = typeof ItemPurchased.Type

export const RewardUsed = compiledMake(
  Schema.TaggedStruct("RewardUsed", { reward_id: RewardId, at: Timestamp })
)
export type RewardUsed = typeof RewardUsed.Type

export const WalletEvent = Schema.Union([
  TokensEarned,
  StreakBonusAwarded,
  LevelUpBonusAwarded,
  AchievementUnlocked,
  ItemPurchased,
  RewardUsed
])
export type WalletEvent = typeof WalletEvent.Type

export type WalletError =
  | IdempotencyKeyReused
  | InsufficientFunds
  | ItemNotFound
  | RewardNotFound
  | RewardExpired
  | RewardAlreadyUsed

// ---------------------------------------------------------------------------------------------
// State

/**
 * A `paidBlockKey`: a task id and a block id (ids, so of a key-safe alphabet) joined by `/`. Every key
 * ever stored has this shape; typing it so keeps the state's arbitrary to keys real data can hold, none
 * needing a JSON escape (see README, Runtime). The JSON encoding is the same plain string.
 */
const PaidBlockKey = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_-]{1,64}\/[A-Za-z0-9_-]{1,64}$/, { message: "must be <task id>/<block id>" })
)

export const WalletState = Schema.Struct({
  balance: Schema.Int,
  total_earned: Schema.Int,
  total_spent: Schema.Int,
  /** Always `levelFor(total_earned)`; stored so readers need not recompute it. */
  level: Schema.Int,
  /** The highest level whose level-up bonus has been paid (level 1 has none). */
  level_rewarded: Schema.Int,
  streak_days: Schema.Int,
  last_active_day: Schema.NullOr(Schema.String),
  last_streak_bonus_day: Schema.NullOr(Schema.String),
  /** When each achievement was unlocked; absent until then. */
  achievements: Schema.Struct({
    first_purchase: Schema.optionalKey(Timestamp),
    big_spender: Schema.optionalKey(Timestamp),
    week_streak: Schema.optionalKey(Timestamp),
    level_5: Schema.optionalKey(Timestamp)
  }),
  /**
   * Tokens paid per block, keyed by `paidBlockKey`: the idempotency record that makes a block pay
   * once, whatever retries or concurrent completions reach the wallet.
   */
  paid_blocks: Schema.Record(PaidBlockKey, Schema.Int),
  rewards: Schema.Record(RewardId, Reward)
}).annotate({ identifier: "WalletState" })
export type WalletState = typeof WalletState.Type

export const initialWalletState: WalletState = {
  balance: 0,
  total_earned: 0,
  total_spent: 0,
  level: 1,
  level_rewarded: 1,
  streak_days: 0,
  last_active_day: null,
  last_streak_bonus_day: null,
  achievements: {},
  paid_blocks: {},
  rewards: {}
}

/** Block ids are unique within their task; the pair is what identifies a block everywhere. */
export const paidBlockKey = (task_id: string, block_id: string): string => `${task_id}/${block_id}`

// ---------------------------------------------------------------------------------------------
// Evolve

const credit = (state: WalletState, amount: number): WalletState => {
  const total_earned = state.total_earned + amount
  return { ...state, balance: state.balance + amount, total_earned, level: levelFor(total_earned) }
}

export const evolveWallet = (state: WalletState, event: WalletEvent): WalletState => {
  switch (event._tag) {
    case "TokensEarned": {
      const day = utcDay(event.at)
      const advances = event.amount > 0 && (state.last_active_day === null || day > state.last_active_day)
      const next = credit(state, event.amount)
      return {
        ...next,
        paid_blocks: { ...state.paid_blocks, [paidBlockKey(event.task_id, event.block_id)]: event.amount },
        streak_days: event.streak_days,
        last_active_day: advances ? day : state.last_active_day
      }
    }
    case "StreakBonusAwarded":
      return { ...credit(state, event.amount), last_streak_bonus_day: event.day }
    case "LevelUpBonusAwarded":
      return { ...credit(state, event.amount), level_rewarded: Math.max(state.level_rewarded, event.level) }
    case "AchievementUnlocked":
      return {
        ...credit(state, event.amount),
        achievements: { ...state.achievements, [event.achievement]: event.at }
      }
    case "ItemPurchased":
      return {
        ...state,
        balance: state.balance - event.cost,
        total_spent: state.total_spent + event.cost,
        rewards: {
          ...state.rewards,
          [event.reward_id]: {
            id: event.reward_id,
            item_id: event.item_id,
            item_name: event.item_name,
            category: event.category,
            cost: event.cost,
            duration_minutes: event.duration_minutes,
            purchased_at: event.at,
            expires_at: event.expires_at,
            used_at: null
          }
        }
      }
    case "RewardUsed": {
      const reward = entryOf(state.rewards, event.reward_id)
      if (reward === undefined) return state
      return { ...state, rewards: { ...state.rewards, [event.reward_id]: { ...reward, used_at: event.at } } }
    }
  }
}

const fold = (state: WalletState, events: ReadonlyArray<WalletEvent>): WalletState =>
  events.reduce(evolveWallet, state)

// ---------------------------------------------------------------------------------------------
// Decide

const achievementReached = (state: WalletState, id: AchievementId): boolean => {
  switch (id) {
    case "first_purchase":
      return Object.keys(state.rewards).length > 0
    case "big_spender":
      return state.total_spent >= BIG_SPENDER_THRESHOLD
    case "week_streak":
      return state.streak_days >= WEEK_STREAK_DAYS
    case "level_5":
      return state.level >= LEVEL_5
  }
}

/**
 * The bonuses a command's primary effect unlocks, decided in ONE pass with no feedback:
 * 1. a level-up bonus `level × 15` for every level reached and not yet rewarded, each level once;
 * 2. each achievement not yet unlocked whose condition holds after step 1, each once.
 * Bonus tokens count as earnings (so `balance = earned − spent` and the level follow them), but the
 * bonuses of this pass are never re-examined within it. The original system re-ran its checks after
 * each bonus and paid one earn out 490 times; here a command pays at most one streak bonus, the
 * level-ups it crossed and four achievements. A level crossed only by this pass's achievement
 * bonuses is rewarded by the wallet's next command that writes, still exactly once. (Paying it in a
 * loop until nothing changes would not terminate: from about level 170 on, a level's bonus exceeds
 * the gap to the next level, so the cascade would never stop.) Idempotent retries write nothing.
 */
const settle = (state: WalletState, at: Date): ReadonlyArray<WalletEvent> => {
  const events: Array<WalletEvent> = []
  for (let level = state.level_rewarded + 1; level <= state.level; level++) {
    events.push(LevelUpBonusAwarded.make({ level, amount: levelUpBonus(level), at }))
  }
  const afterLevels = fold(state, events)
  for (const achievement of ACHIEVEMENTS) {
    if (
      entryOf(afterLevels.achievements, achievement.id) === undefined &&
      achievementReached(afterLevels, achievement.id)
    ) {
      events.push(AchievementUnlocked.make({ achievement: achievement.id, amount: achievement.bonus, at }))
    }
  }
  return events
}

const withSettlement = (state: WalletState, primary: ReadonlyArray<WalletEvent>, at: Date) => [
  ...primary,
  ...settle(fold(state, primary), at)
]

/** What a credit pays: by the pay rule, or by the legacy rule for a completion recorded before it. */
const creditAmount = (command: CreditBlock): { readonly amount: number; readonly proof_bonus?: number } => {
  if (command.elapsed_ms === undefined) return { amount: legacyTokensForBlock(command) }
  const pay = payForBlock({ ...command, elapsed_ms: command.elapsed_ms })
  return { amount: pay.tokens, proof_bonus: pay.proof_bonus }
}

/**
 * Pays a completed block once. Only a block that paid counts as focus: one that paid nothing (under a
 * minute) is recorded, so it is never paid later, but it neither extends nor breaks the streak, earns
 * no streak bonus and settles no level-up or achievement.
 */
const decideCredit = (state: WalletState, command: CreditBlock): ReadonlyArray<WalletEvent> => {
  // A block pays once, whatever retries or concurrent completions reach the wallet.
  if (entryOf(state.paid_blocks, paidBlockKey(command.task_id, command.block_id)) !== undefined) return []
  const { amount, proof_bonus } = creditAmount(command)
  const day = utcDay(command.at)
  const streak_days =
    amount > 0 ? nextStreak(state.last_active_day, state.streak_days, day) : state.streak_days
  const earned = TokensEarned.make({
    task_id: command.task_id,
    block_id: command.block_id,
    minutes: command.minutes,
    difficulty: command.difficulty,
    ...(command.proof_score === undefined ? {} : { proof_score: command.proof_score }),
    ...(command.elapsed_ms === undefined ? {} : { elapsed_ms: command.elapsed_ms }),
    ...(proof_bonus === undefined ? {} : { proof_bonus }),
    amount,
    streak_days,
    at: command.at
  })
  if (amount === 0) return [earned]
  const primary: Array<WalletEvent> = [earned]
  const isStreakDay = state.last_active_day === null || day >= state.last_active_day
  const bonusNotYetToday = state.last_streak_bonus_day === null || day > state.last_streak_bonus_day
  const bonus = streakBonus(streak_days)
  if (isStreakDay && bonusNotYetToday && bonus > 0) {
    primary.push(StreakBonusAwarded.make({ day, streak_days, amount: bonus, at: command.at }))
  }
  return withSettlement(state, primary, command.at)
}

const decidePurchase = (
  state: WalletState,
  command: PurchaseItem
): Result.Result<ReadonlyArray<WalletEvent>, IdempotencyKeyReused | InsufficientFunds | ItemNotFound> => {
  const item = findItem(command.item_id)
  // The same purchase id again is a retry of a purchase already made: it buys nothing more, and it
  // must be a retry of the same item (an id or a name both resolve to the item).
  const earlier = entryOf(state.rewards, command.purchase_id)
  if (earlier !== undefined) {
    return earlier.item_id === item?.id
      ? Result.succeed([])
      : Result.fail(idempotencyKeyReused(command.purchase_id, command.item_id))
  }
  if (item === undefined) return Result.fail(itemNotFound(command.item_id))
  if (state.balance < item.cost) return Result.fail(insufficientFunds(state.balance, item.cost))
  const purchased = ItemPurchased.make({
    reward_id: command.purchase_id,
    item_id: item.id,
    item_name: item.name,
    category: item.category,
    cost: item.cost,
    duration_minutes: item.duration_minutes ?? null,
    expires_at: expiryFor(item, command.at),
    at: command.at
  })
  return Result.succeed(withSettlement(state, [purchased], command.at))
}

export const decideWallet = (
  state: WalletState,
  command: WalletCommand
): Result.Result<ReadonlyArray<WalletEvent>, WalletError> => {
  switch (command._tag) {
    case "CreditBlock":
      return Result.succeed(decideCredit(state, command))
    case "PurchaseItem":
      return decidePurchase(state, command)
    case "UseReward":
      return checkUse(entryOf(state.rewards, command.reward_id), command.reward_id, command.at).pipe(
        Result.map(() =>
          withSettlement(
            state,
            [RewardUsed.make({ reward_id: command.reward_id, at: command.at })],
            command.at
          )
        )
      )
  }
}

/** The wallet command that pays for a completed block, derived from the task's own event. */
export const creditFor = (event: BlockCompleted): CreditBlock =>
  CreditBlock.make({
    task_id: event.task_id,
    block_id: event.block_id,
    minutes: event.duration_minutes,
    difficulty: event.difficulty,
    ...(event.proof_score === undefined ? {} : { proof_score: event.proof_score }),
    ...(event.started_at === undefined ? {} : { elapsed_ms: elapsedMs(event.started_at, event.at) }),
    at: event.at
  })

export const WalletDecider: Decider<WalletState, WalletCommand, WalletEvent, WalletError> = {
  type: "wallet",
  initialState: initialWalletState,
  decide: decideWallet,
  evolve: evolveWallet,
  event: fromUnknown(WalletEvent),
  state: fromUnknown(WalletState)
}
