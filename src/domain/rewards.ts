import { Result, Schema } from "effect"
import { Category, type StoreItem } from "./catalog.ts"
import { addDays, Timestamp } from "./common.ts"
import { RewardAlreadyUsed, RewardExpired, type RewardNotFound, rewardNotFound } from "./errors.ts"
import { ItemId, RewardId } from "./ids.ts"
import { REWARD_VALIDITY_DAYS } from "./rules.ts"

/**
 * A reward is what a purchase grants: used once, and — when the item has a duration (a break, a
 * movie night) — only within 7 days of purchase, so earned breaks are taken while they still mean
 * something. Items without a duration (a snack, an upgrade) never expire.
 *
 * Rewards live inside the wallet aggregate: the debit and the reward it buys are one event, so no
 * crash or race can take the tokens without granting the reward (or the reverse).
 */
export const Reward = Schema.Struct({
  id: RewardId,
  item_id: ItemId,
  item_name: Schema.String,
  category: Category,
  cost: Schema.Int,
  duration_minutes: Schema.NullOr(Schema.Int),
  purchased_at: Timestamp,
  expires_at: Schema.NullOr(Timestamp),
  used_at: Schema.NullOr(Timestamp)
}).annotate({ identifier: "Reward" })
export type Reward = typeof Reward.Type

export const RewardStatus = Schema.Literals(["active", "used", "expired"])
export type RewardStatus = typeof RewardStatus.Type

export const expiryFor = (item: StoreItem, purchasedAt: Date): Date | null =>
  item.duration_minutes === undefined ? null : addDays(purchasedAt, REWARD_VALIDITY_DAYS)

/** A reward is expired from its expiry instant on (the boundary belongs to "expired"). */
export const rewardStatus = (reward: Reward, at: Date): RewardStatus => {
  if (reward.used_at !== null) return "used"
  if (reward.expires_at !== null && at.getTime() >= reward.expires_at.getTime()) return "expired"
  return "active"
}

export const activeRewards = (rewards: Iterable<Reward>, at: Date): ReadonlyArray<Reward> =>
  Array.from(rewards)
    .filter((r) => rewardStatus(r, at) === "active")
    .sort((a, b) => b.purchased_at.getTime() - a.purchased_at.getTime())

/** Whether the reward can be used at `at`; used once, and not at or after its expiry. */
export const checkUse = (
  reward: Reward | undefined,
  rewardId: string,
  at: Date
): Result.Result<Reward, RewardNotFound | RewardExpired | RewardAlreadyUsed> => {
  if (reward === undefined) return Result.fail(rewardNotFound(rewardId))
  if (reward.used_at !== null) {
    const used_at = reward.used_at.toISOString()
    return Result.fail(
      new RewardAlreadyUsed({
        message: `Reward ${rewardId} was already used at ${used_at}`,
        details: { reward_id: rewardId, used_at }
      })
    )
  }
  if (rewardStatus(reward, at) === "expired" && reward.expires_at !== null) {
    const expired_at = reward.expires_at.toISOString()
    return Result.fail(
      new RewardExpired({
        message: `Reward ${rewardId} expired at ${expired_at}`,
        details: { reward_id: rewardId, expired_at }
      })
    )
  }
  return Result.succeed(reward)
}

/** The reward as the API shows it, with its status at the time of the request. */
export const RewardView = Schema.Struct({
  ...Reward.fields,
  status: RewardStatus
}).annotate({ identifier: "RewardView" })
export type RewardView = typeof RewardView.Type

export const rewardView = (reward: Reward, at: Date): RewardView => ({
  ...reward,
  status: rewardStatus(reward, at)
})
