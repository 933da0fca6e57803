import { Context, type Effect, type Option, Schema } from "effect"
import type { EventStoreError } from "./EventStore.ts"

/*
 * The read models' storage, kept by the event store's own database (tables beside `events` in SQLite,
 * collections beside them in MongoDB), so that a subscription can commit its rows and its checkpoint
 * in one transaction. Each table is written by exactly one subscription: the checkpoint's
 * compare-and-set is then also the guard on its rows (two instances folding the same page of the log
 * cannot both commit, and the loser's reads of the rows were of the state the winner changed).
 *
 * Rows carry the columns their queries filter and sort by, and the entity's state as encoded JSON.
 * They are derived data: a change of their shape bumps the subscription's version, and a version
 * that differs from the stored one rebuilds the table from position 1 (see `Subscription.ts`).
 */

/** A task's row: `status` is the task's, or `deleted` (kept so a deleted id is known and owned). */
export interface TaskRow {
  readonly task_id: string
  readonly user_id: string
  readonly status: "pending" | "in_progress" | "completed" | "deleted"
  /** Epoch milliseconds. */
  readonly created_at: number
  readonly updated_at: number
  /**
   * The latest block start or completion (epoch ms), `IN_PROGRESS_TOUCH` while a block runs, 0 before
   * any: "tasks touched since t" is then one range scan, running blocks included.
   */
  readonly touched_at: number
  /** The task decider's state, encoded (`TaskState`). */
  readonly state: unknown
}

/** `touched_at` of a task with a block in progress: later than any instant. */
export const IN_PROGRESS_TOUCH = Number.MAX_SAFE_INTEGER

/** A planner action's row. */
export interface ActionRow {
  readonly action_id: string
  readonly user_id: string
  readonly status: "pending" | "in_progress" | "completed" | "failed" | "cancelled"
  /**
   * When a worker may next claim it (epoch ms): its schedule or retry time while pending, its claim's
   * lease expiry while in progress; null once it is done.
   */
  readonly due_at: number | null
  readonly created_at: number
  /**
   * The global position of the event that planned it: the plan order, which breaks ties of
   * `created_at` (actions planned together share it).
   */
  readonly seq: number
  /** The action (`PlannedAction`), encoded. */
  readonly state: unknown
}

export type RowWrite =
  | { readonly table: "tasks"; readonly row: TaskRow }
  | { readonly table: "actions"; readonly row: ActionRow }

export type ReadModelTable = RowWrite["table"]

export interface Checkpoint {
  /** Global position of the last event folded in; 0 before the first. */
  readonly position: number
  /** The subscription's version that wrote it: another version rebuilds. */
  readonly version: number
}

/** Another process committed this subscription's next page first: nothing of this one was written. */
export class CheckpointMoved extends Schema.TaggedError<CheckpointMoved>()("CheckpointMoved", {
  subscription: Schema.String,
  expected: Schema.Number
}) {}

/**
 * Orders are exact, so every store answers the same rows in the same sequence: ties are broken by the
 * row's id (byte order of its UTF-8), as each query says. Queries that name no order answer in none.
 * A `limit` of 0 or less reads no rows (never "no limit"); a negative `offset` counts as 0.
 */
export interface ReadModelStoreShape {
  readonly checkpoint: (subscription: string) => Effect.Effect<Option.Option<Checkpoint>, EventStoreError>
  /**
   * Writes the rows and moves the checkpoint from `from` to `to` in one transaction, if the stored
   * checkpoint is still at `from` (and of `version`; none stored counts as position 0 of any version).
   */
  readonly commit: (
    subscription: string,
    version: number,
    from: number,
    to: number,
    writes: ReadonlyArray<RowWrite>
  ) => Effect.Effect<void, CheckpointMoved | EventStoreError>
  /** Empties the tables and sets the checkpoint to position 0 of `version`, in one transaction. */
  readonly reset: (
    subscription: string,
    version: number,
    tables: ReadonlyArray<ReadModelTable>
  ) => Effect.Effect<void, EventStoreError>
  readonly tasks: {
    /** The stored rows of these ids, each once, in no order; unknown ids are left out. */
    readonly byIds: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<TaskRow>, EventStoreError>
    /**
     * The user's tasks of these statuses, newest first (`created_at` descending, then `task_id`
     * descending), and how many there are in all pages.
     */
    readonly page: (
      userId: string,
      query: {
        readonly statuses: ReadonlyArray<TaskRow["status"]>
        readonly limit: number
        readonly offset: number
      }
    ) => Effect.Effect<{ readonly rows: ReadonlyArray<TaskRow>; readonly total: number }, EventStoreError>
    /** The user's tasks of these statuses, most recently updated first (then `task_id` descending). */
    readonly recentlyUpdated: (
      userId: string,
      statuses: ReadonlyArray<TaskRow["status"]>,
      limit: number
    ) => Effect.Effect<ReadonlyArray<TaskRow>, EventStoreError>
    /** How many tasks the user has in each status. */
    readonly counts: (
      userId: string
    ) => Effect.Effect<Readonly<Partial<Record<TaskRow["status"], number>>>, EventStoreError>
    /** The user's tasks with `touched_at ≥ since`, running blocks included; in no order. */
    readonly touchedSince: (
      userId: string,
      since: number
    ) => Effect.Effect<ReadonlyArray<TaskRow>, EventStoreError>
    /** The user's tasks of these statuses updated at or after `since`; in no order. */
    readonly updatedSince: (
      userId: string,
      statuses: ReadonlyArray<TaskRow["status"]>,
      since: number
    ) => Effect.Effect<ReadonlyArray<TaskRow>, EventStoreError>
  }
  readonly actions: {
    /** The stored rows of these ids, each once, in no order; unknown ids are left out. */
    readonly byIds: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<ActionRow>, EventStoreError>
    /** The user's actions, newest first (`created_at` descending, then `seq` ascending: plan order). */
    readonly ofUser: (
      userId: string,
      limit: number
    ) => Effect.Effect<ReadonlyArray<ActionRow>, EventStoreError>
    /**
     * Pending and in-progress actions (of one user, when given), soonest due first (`due_at`
     * ascending, null first, then `action_id` ascending).
     */
    readonly open: (query: {
      readonly userId?: string | undefined
      readonly limit: number
    }) => Effect.Effect<ReadonlyArray<ActionRow>, EventStoreError>
    /** How many actions, of all users, are in each status. */
    readonly counts: Effect.Effect<Readonly<Partial<Record<ActionRow["status"], number>>>, EventStoreError>
  }
}

export class ReadModelStore extends Context.Service<ReadModelStore, ReadModelStoreShape>()(
  "focusforge/eventsourcing/ReadModelStore"
) {}
