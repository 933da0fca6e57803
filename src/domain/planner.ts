import { Result, Schema } from "effect"
import type { Decider } from "./Decider.ts"

/**
 * The planner's follow-up actions, one aggregate per action (stream `planaction-<id>`). The decider is
 * the action's state machine; claiming is a command like the others, and the program appends its
 * event at the exact version it decided on, so of two workers claiming one action only one succeeds.
 *
 *   pending ──claim──▶ in_progress ──complete──▶ completed
 *      ▲                   │ fail (attempts < max): back to pending after a backoff
 *      └───────────────────┘ fail (attempts = max): failed
 *   pending ──cancel──▶ cancelled  (a dependency failed or was cancelled)
 *
 * Times are epoch milliseconds carried by the commands: the decider reads no clock.
 */

export const Priority = Schema.Literals(["critical", "high", "medium", "low"])
export type Priority = typeof Priority.Type
export const PRIORITY_RANK: Record<Priority, number> = { critical: 0, high: 1, medium: 2, low: 3 }

export const ActionStatus = Schema.Literals(["pending", "in_progress", "completed", "failed", "cancelled"])
export type ActionStatus = typeof ActionStatus.Type

export const MAX_ATTEMPTS = 3
/** Backoff before attempt n+1: 30 s, 60 s, 120 s … */
export const BACKOFF_BASE_MS = 30_000
/** A claim older than this is presumed dead (its worker crashed) and the action may be claimed again. */
export const CLAIM_LEASE_MS = 5 * 60_000

export const backoffMs = (attempt: number): number => BACKOFF_BASE_MS * 2 ** Math.max(0, attempt - 1)

export const PlannedAction = Schema.Struct({
  action_id: Schema.String,
  user_id: Schema.String,
  type: Schema.String,
  priority: Priority,
  depends_on: Schema.Array(Schema.String),
  scheduled_at: Schema.Number,
  payload: Schema.Unknown,
  status: ActionStatus,
  attempts: Schema.Number,
  max_attempts: Schema.Number,
  next_attempt_at: Schema.Number,
  claimed_by: Schema.NullOr(Schema.String),
  claimed_at: Schema.NullOr(Schema.Number),
  last_error: Schema.NullOr(Schema.String),
  result: Schema.Unknown,
  created_at: Schema.Number,
  updated_at: Schema.Number
})
export type PlannedAction = typeof PlannedAction.Type

export const ActionState = Schema.Struct({ action: Schema.NullOr(PlannedAction) })
export type ActionState = typeof ActionState.Type

// --- events
export const ActionPlanned = Schema.TaggedStruct("ActionPlanned", {
  action_id: Schema.String,
  user_id: Schema.String,
  type: Schema.String,
  priority: Priority,
  depends_on: Schema.Array(Schema.String),
  scheduled_at: Schema.Number,
  payload: Schema.Unknown,
  max_attempts: Schema.Number,
  at: Schema.Number
})
export const ActionClaimed = Schema.TaggedStruct("ActionClaimed", {
  worker: Schema.String,
  attempt: Schema.Number,
  at: Schema.Number
})
export const ActionCompleted = Schema.TaggedStruct("ActionCompleted", {
  result: Schema.Unknown,
  at: Schema.Number
})
export const ActionAttemptFailed = Schema.TaggedStruct("ActionAttemptFailed", {
  error: Schema.String,
  attempt: Schema.Number,
  retry_at: Schema.Number,
  at: Schema.Number
})
export const ActionFailed = Schema.TaggedStruct("ActionFailed", {
  error: Schema.String,
  attempts: Schema.Number,
  at: Schema.Number
})
export const ActionCancelled = Schema.TaggedStruct("ActionCancelled", {
  reason: Schema.String,
  at: Schema.Number
})

export const ActionEvent = Schema.Union([
  ActionPlanned,
  ActionClaimed,
  ActionCompleted,
  ActionAttemptFailed,
  ActionFailed,
  ActionCancelled
])
export type ActionEvent = typeof ActionEvent.Type

// --- commands
export type ActionCommand =
  | {
      readonly _tag: "Plan"
      readonly action_id: string
      readonly user_id: string
      readonly type: string
      readonly priority: Priority
      readonly depends_on: ReadonlyArray<string>
      readonly scheduled_at: number
      readonly payload: unknown
      readonly max_attempts: number
      readonly at: number
    }
  | { readonly _tag: "Claim"; readonly worker: string; readonly at: number }
  | { readonly _tag: "Complete"; readonly result: unknown; readonly at: number }
  | { readonly _tag: "FailAttempt"; readonly error: string; readonly at: number }
  | { readonly _tag: "Cancel"; readonly reason: string; readonly at: number }

export class ActionRejected extends Schema.TaggedError<ActionRejected>()("ActionRejected", {
  action_id: Schema.String,
  reason: Schema.String
}) {}

const reject = (state: ActionState, reason: string) =>
  Result.fail(new ActionRejected({ action_id: state.action?.action_id ?? "unknown", reason }))

/** Whether a worker may claim the action at `at`: due and pending, or holding an expired claim. */
export const claimable = (action: PlannedAction, at: number): boolean =>
  (action.status === "pending" && action.scheduled_at <= at && action.next_attempt_at <= at) ||
  (action.status === "in_progress" && action.claimed_at !== null && action.claimed_at + CLAIM_LEASE_MS <= at)

export const decideAction = (
  state: ActionState,
  command: ActionCommand
): Result.Result<ReadonlyArray<ActionEvent>, ActionRejected> => {
  const action = state.action
  if (command._tag === "Plan") {
    if (action !== null) return reject(state, "already planned")
    const { _tag, ...fields } = command
    return Result.succeed([{ _tag: "ActionPlanned", ...fields, depends_on: [...fields.depends_on] }])
  }
  if (action === null) return reject(state, "not planned")
  switch (command._tag) {
    case "Claim": {
      if (!claimable(action, command.at)) return reject(state, `not claimable while ${action.status}`)
      // A stale claim that used the last attempt: its worker died mid-run, and that counts.
      if (action.status === "in_progress" && action.attempts >= action.max_attempts)
        return Result.succeed([
          {
            _tag: "ActionFailed",
            error: "claim expired on the last attempt",
            attempts: action.attempts,
            at: command.at
          }
        ])
      return Result.succeed([
        { _tag: "ActionClaimed", worker: command.worker, attempt: action.attempts + 1, at: command.at }
      ])
    }
    case "Complete":
      if (action.status !== "in_progress") return reject(state, `cannot complete while ${action.status}`)
      return Result.succeed([{ _tag: "ActionCompleted", result: command.result, at: command.at }])
    case "FailAttempt":
      if (action.status !== "in_progress") return reject(state, `cannot fail while ${action.status}`)
      return Result.succeed(
        action.attempts >= action.max_attempts
          ? [{ _tag: "ActionFailed", error: command.error, attempts: action.attempts, at: command.at }]
          : [
              {
                _tag: "ActionAttemptFailed",
                error: command.error,
                attempt: action.attempts,
                retry_at: command.at + backoffMs(action.attempts),
                at: command.at
              }
            ]
      )
    case "Cancel":
      if (action.status !== "pending") return reject(state, `cannot cancel while ${action.status}`)
      return Result.succeed([{ _tag: "ActionCancelled", reason: command.reason, at: command.at }])
  }
}

export const evolveAction = (state: ActionState, event: ActionEvent): ActionState => {
  if (event._tag === "ActionPlanned") {
    const { _tag, at, ...fields } = event
    return {
      action: {
        ...fields,
        status: "pending",
        attempts: 0,
        next_attempt_at: fields.scheduled_at,
        claimed_by: null,
        claimed_at: null,
        last_error: null,
        result: null,
        created_at: at,
        updated_at: at
      }
    }
  }
  const action = state.action
  if (action === null) return state
  switch (event._tag) {
    case "ActionClaimed":
      return {
        action: {
          ...action,
          status: "in_progress",
          attempts: event.attempt,
          claimed_by: event.worker,
          claimed_at: event.at,
          updated_at: event.at
        }
      }
    case "ActionCompleted":
      return { action: { ...action, status: "completed", result: event.result, updated_at: event.at } }
    case "ActionAttemptFailed":
      return {
        action: {
          ...action,
          status: "pending",
          last_error: event.error,
          next_attempt_at: event.retry_at,
          claimed_by: null,
          claimed_at: null,
          updated_at: event.at
        }
      }
    case "ActionFailed":
      return { action: { ...action, status: "failed", last_error: event.error, updated_at: event.at } }
    case "ActionCancelled":
      return { action: { ...action, status: "cancelled", last_error: event.reason, updated_at: event.at } }
  }
}

export const ActionDecider: Decider<ActionState, ActionCommand, ActionEvent, ActionRejected> = {
  type: "planaction",
  initialState: { action: null },
  decide: decideAction,
  evolve: evolveAction,
  event: ActionEvent,
  state: ActionState
}

/** Ready to run at `now`: claimable and every dependency completed. */
export const isReady = (
  action: PlannedAction,
  byId: ReadonlyMap<string, PlannedAction>,
  now: number
): boolean => claimable(action, now) && action.depends_on.every((id) => byId.get(id)?.status === "completed")

/** A pending action one of whose dependencies failed, was cancelled, or does not exist. */
export const blockedForever = (
  action: PlannedAction,
  byId: ReadonlyMap<string, PlannedAction>
): string | undefined => {
  if (action.status !== "pending") return undefined
  for (const id of action.depends_on) {
    const dependency = byId.get(id)
    if (dependency === undefined) return `dependency ${id} does not exist`
    if (dependency.status === "failed" || dependency.status === "cancelled")
      return `dependency ${id} ${dependency.status}`
  }
  return undefined
}

/** Critical first, then by schedule, then by id for a stable order. */
export const byPriority = (a: PlannedAction, b: PlannedAction): number =>
  PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority] ||
  a.scheduled_at - b.scheduled_at ||
  a.created_at - b.created_at ||
  (a.action_id < b.action_id ? -1 : a.action_id > b.action_id ? 1 : 0)
