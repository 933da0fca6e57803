import { Schema } from "effect"

/**
 * Ids are opaque strings chosen by the caller (programs generate UUIDs; catalog items use slugs).
 * They become part of stream ids and URLs, so they are restricted to a URL- and key-safe alphabet
 * and a bounded length: a hostile id can never smuggle a separator or blow up an index key.
 */
const IdString = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/, { message: "must be 1-64 characters of A-Z a-z 0-9 _ -" })
)

export const UserId = IdString.pipe(Schema.brand("UserId")).annotate({ identifier: "UserId" })
export type UserId = typeof UserId.Type

export const TaskId = IdString.pipe(Schema.brand("TaskId")).annotate({ identifier: "TaskId" })
export type TaskId = typeof TaskId.Type

export const BlockId = IdString.pipe(Schema.brand("BlockId")).annotate({ identifier: "BlockId" })
export type BlockId = typeof BlockId.Type

export const ItemId = IdString.pipe(Schema.brand("ItemId")).annotate({ identifier: "ItemId" })
export type ItemId = typeof ItemId.Type

/** A purchase's id is also the id of the reward it grants: one purchase, at most one reward. */
export const RewardId = IdString.pipe(Schema.brand("RewardId")).annotate({ identifier: "RewardId" })
export type RewardId = typeof RewardId.Type

export const MoodEntryId = IdString.pipe(Schema.brand("MoodEntryId")).annotate({
  identifier: "MoodEntryId"
})
export type MoodEntryId = typeof MoodEntryId.Type

/** The id of an issued access token (JWT `jti`), so a logout can revoke exactly that token. */
export const TokenId = IdString.pipe(Schema.brand("TokenId")).annotate({ identifier: "TokenId" })
export type TokenId = typeof TokenId.Type
