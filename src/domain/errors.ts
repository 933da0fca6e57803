import { Schema } from "effect"

/**
 * Domain errors. Each has a stable `_tag` clients branch on, a human-readable `message`, optional
 * machine-readable `details` (the HTTP error envelope `{ _tag, message, details? }`), and the HTTP
 * status it maps to (the `httpApiStatus` annotation HttpApi reads). The status is only an annotation:
 * nothing here does I/O.
 *
 * Ownership is not an error of its own: another user's task, block or reward is reported with the
 * same "not found" error as a missing one, so ids never leak whether they exist.
 */

export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()(
  "InsufficientFunds",
  {
    message: Schema.String,
    details: Schema.Struct({ balance: Schema.Number, required: Schema.Number })
  },
  { httpApiStatus: 409, description: "The balance does not cover the price" }
) {}

/**
 * An `Idempotency-Key` already used for a purchase of another item. Answering the first purchase
 * would hide that the second was never made; buying again would break the key's promise.
 */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()(
  "IdempotencyKeyReused",
  {
    message: Schema.String,
    details: Schema.Struct({ idempotency_key: Schema.String, item_id: Schema.String })
  },
  { httpApiStatus: 422, description: "The Idempotency-Key was already used for a different item" }
) {}

export class ItemNotFound extends Schema.TaggedError<ItemNotFound>()(
  "ItemNotFound",
  { message: Schema.String, details: Schema.Struct({ item_id: Schema.String }) },
  { httpApiStatus: 404, description: "No such store item" }
) {}

export class TaskNotFound extends Schema.TaggedError<TaskNotFound>()(
  "TaskNotFound",
  { message: Schema.String, details: Schema.Struct({ task_id: Schema.String }) },
  { httpApiStatus: 404, description: "No such task (or not yours)" }
) {}

export class BlockNotFound extends Schema.TaggedError<BlockNotFound>()(
  "BlockNotFound",
  { message: Schema.String, details: Schema.Struct({ task_id: Schema.String, block_id: Schema.String }) },
  { httpApiStatus: 404, description: "No such block in this task" }
) {}

export class TaskAlreadyExists extends Schema.TaggedError<TaskAlreadyExists>()(
  "TaskAlreadyExists",
  { message: Schema.String, details: Schema.Struct({ task_id: Schema.String }) },
  { httpApiStatus: 409, description: "A task with this id already exists" }
) {}

/** A state machine refused a move (e.g. completing a block that was never started, or twice). */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>()(
  "InvalidTransition",
  {
    message: Schema.String,
    details: Schema.Struct({ entity: Schema.String, from: Schema.String, action: Schema.String })
  },
  { httpApiStatus: 409, description: "The resource is not in a state that allows this" }
) {}

/**
 * Completing a block that was never started: its pay is measured from its start (server time), so a
 * block must be started, focused on, then completed. A 409 of its own so clients can tell it apart.
 */
export class BlockNotStarted extends Schema.TaggedError<BlockNotStarted>()(
  "BlockNotStarted",
  { message: Schema.String, details: Schema.Struct({ task_id: Schema.String, block_id: Schema.String }) },
  { httpApiStatus: 409, description: "The block was never started: start it before completing it" }
) {}

export const blockNotStarted = (task_id: string, block_id: string) =>
  new BlockNotStarted({
    message: `Block ${block_id} of task ${task_id} was never started: start it before completing it`,
    details: { task_id, block_id }
  })

/** A command that is well-typed but breaks a domain rule (e.g. a breakdown with no blocks). */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()(
  "InvalidInput",
  { message: Schema.String, details: Schema.Struct({ field: Schema.String }) },
  { httpApiStatus: 422, description: "The request breaks a domain rule" }
) {}

export class RewardNotFound extends Schema.TaggedError<RewardNotFound>()(
  "RewardNotFound",
  { message: Schema.String, details: Schema.Struct({ reward_id: Schema.String }) },
  { httpApiStatus: 404, description: "No such reward (or not yours)" }
) {}

export class RewardExpired extends Schema.TaggedError<RewardExpired>()(
  "RewardExpired",
  { message: Schema.String, details: Schema.Struct({ reward_id: Schema.String, expired_at: Schema.String }) },
  { httpApiStatus: 410, description: "The reward expired before it was used" }
) {}

export class RewardAlreadyUsed extends Schema.TaggedError<RewardAlreadyUsed>()(
  "RewardAlreadyUsed",
  { message: Schema.String, details: Schema.Struct({ reward_id: Schema.String, used_at: Schema.String }) },
  { httpApiStatus: 409, description: "The reward was already used" }
) {}

export class EmailTaken extends Schema.TaggedError<EmailTaken>()(
  "EmailTaken",
  { message: Schema.String },
  { httpApiStatus: 409, description: "An account with this email already exists" }
) {}

export class AccountAlreadyRegistered extends Schema.TaggedError<AccountAlreadyRegistered>()(
  "AccountAlreadyRegistered",
  { message: Schema.String },
  { httpApiStatus: 409, description: "This account is already registered" }
) {}

export class AccountNotFound extends Schema.TaggedError<AccountNotFound>()(
  "AccountNotFound",
  { message: Schema.String },
  { httpApiStatus: 404, description: "No such account" }
) {}

/**
 * Wrong email or password. One error for both so a login never reveals whether an email is
 * registered.
 */
export class InvalidCredentials extends Schema.TaggedError<InvalidCredentials>()(
  "InvalidCredentials",
  { message: Schema.String },
  { httpApiStatus: 401, description: "Wrong email or password" }
) {}

/**
 * Too many failed logins for this email from this client address (or, while the email is over its
 * ceiling across all addresses, from an address that has failed for it): try again after
 * `retry_after_seconds`, also sent as `Retry-After`. Unknown emails are throttled the same way, so the
 * answer never tells whether an account exists; nobody else's failures ever refuse an address that has
 * not failed.
 */
export class LoginThrottled extends Schema.TaggedError<LoginThrottled>()(
  "LoginThrottled",
  { message: Schema.String, details: Schema.Struct({ retry_after_seconds: Schema.Int }) },
  { httpApiStatus: 429, description: "Too many failed logins from this address: see Retry-After" }
) {}

/** Too many registrations from this client address: try again after `retry_after_seconds` (`Retry-After`). */
export class RegistrationThrottled extends Schema.TaggedError<RegistrationThrottled>()(
  "RegistrationThrottled",
  { message: Schema.String, details: Schema.Struct({ retry_after_seconds: Schema.Int }) },
  { httpApiStatus: 429, description: "Too many registrations from this address: see Retry-After" }
) {}

export const insufficientFunds = (balance: number, required: number) =>
  new InsufficientFunds({
    message: `Not enough tokens: need ${required}, have ${balance}`,
    details: { balance, required }
  })

export const idempotencyKeyReused = (idempotency_key: string, item_id: string) =>
  new IdempotencyKeyReused({
    message: `Idempotency-Key ${idempotency_key} was already used to buy ${item_id}`,
    details: { idempotency_key, item_id }
  })

export const itemNotFound = (item_id: string) =>
  new ItemNotFound({ message: `No store item ${item_id}`, details: { item_id } })

export const taskNotFound = (task_id: string) =>
  new TaskNotFound({ message: `Task ${task_id} not found`, details: { task_id } })

export const blockNotFound = (task_id: string, block_id: string) =>
  new BlockNotFound({
    message: `Block ${block_id} not found in task ${task_id}`,
    details: { task_id, block_id }
  })

export const invalidTransition = (entity: string, from: string, action: string) =>
  new InvalidTransition({
    message: `Cannot ${action} a ${from} ${entity}`,
    details: { entity, from, action }
  })

export const invalidInput = (field: string, message: string) =>
  new InvalidInput({ message, details: { field } })

export const rewardNotFound = (reward_id: string) =>
  new RewardNotFound({ message: `Reward ${reward_id} not found`, details: { reward_id } })
