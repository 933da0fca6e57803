import { Effect, Option } from "effect"
import type { DatabaseSync, SQLInputValue } from "node:sqlite"
import {
  type ActionRow,
  type Checkpoint,
  CheckpointMoved,
  type ReadModelStoreShape,
  type ReadModelTable,
  type RowWrite,
  type TaskRow
} from "../../eventsourcing/ReadModelStore.ts"
import { EventStoreError } from "../../eventsourcing/EventStore.ts"
import { query } from "./sqliteQuery.ts"

/**
 * The read models' tables, beside `events` in the store's file. The indexes are the queries'
 * (`ReadModelStore.ts`): a user's tasks by creation, by status, by last update and by last touch;
 * actions by user, and the planner's queue by status and due time.
 */
export const READ_MODEL_SCHEMA = `
CREATE TABLE IF NOT EXISTS subscription_checkpoints (
  name TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_tasks (
  task_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  touched_at INTEGER NOT NULL,
  state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_tasks_user_created ON rm_tasks (user_id, created_at);
CREATE INDEX IF NOT EXISTS rm_tasks_user_status_created ON rm_tasks (user_id, status, created_at);
CREATE INDEX IF NOT EXISTS rm_tasks_user_updated ON rm_tasks (user_id, updated_at);
CREATE INDEX IF NOT EXISTS rm_tasks_user_touched ON rm_tasks (user_id, touched_at);
CREATE TABLE IF NOT EXISTS rm_actions (
  action_id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  status TEXT NOT NULL,
  due_at INTEGER,
  created_at INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  state TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rm_actions_user_created ON rm_actions (user_id, created_at);
CREATE INDEX IF NOT EXISTS rm_actions_status_due ON rm_actions (status, due_at);
`

interface StoredTaskRow extends Omit<TaskRow, "state"> {
  readonly state: string
}
interface StoredActionRow extends Omit<ActionRow, "state"> {
  readonly state: string
}

const TABLE_NAMES: Record<ReadModelTable, string> = { tasks: "rm_tasks", actions: "rm_actions" }
const TASK_COLUMNS = "task_id, user_id, status, created_at, updated_at, touched_at, state"
const ACTION_COLUMNS = "action_id, user_id, status, due_at, created_at, seq, state"

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

const taskOf = (row: StoredTaskRow): TaskRow => ({ ...row, state: JSON.parse(row.state) })
const actionOf = (row: StoredActionRow): ActionRow => ({ ...row, state: JSON.parse(row.state) })

/**
 * A negative LIMIT is "no limit" to SQLite: a caller's slip would read a whole table. Bounds are
 * normalised to "none" at 0, as the MongoDB store does.
 */
const bounded = (n: number) => Math.max(0, n)

/** `?, ?, ?` for a list of `n` bound values. */
const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ")

/**
 * The read-model store on the event store's connection. `inTransaction` is the store's own
 * `BEGIN IMMEDIATE` bracket: a commit takes the write lock like an append does, and runs
 * synchronously, so no append of this process can interleave with it.
 */
export const makeSqliteReadModels = (
  db: DatabaseSync,
  inTransaction: <A>(body: () => A) => A
): ReadModelStoreShape => {
  const selectCheckpoint = query<[string], Checkpoint>(
    db,
    "SELECT position, version FROM subscription_checkpoints WHERE name = ?"
  )
  const upsertCheckpoint = query<[string, number, number]>(
    db,
    `INSERT INTO subscription_checkpoints (name, version, position) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET version = excluded.version, position = excluded.position`
  )
  const upsertTask = query<[string, string, string, number, number, number, string]>(
    db,
    `INSERT INTO rm_tasks (${TASK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (task_id) DO UPDATE SET user_id = excluded.user_id, status = excluded.status,
       created_at = excluded.created_at, updated_at = excluded.updated_at,
       touched_at = excluded.touched_at, state = excluded.state`
  )
  const upsertAction = query<[string, string, string, number | null, number, number, string]>(
    db,
    `INSERT INTO rm_actions (${ACTION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (action_id) DO UPDATE SET user_id = excluded.user_id, status = excluded.status,
       due_at = excluded.due_at, created_at = excluded.created_at, seq = excluded.seq, state = excluded.state`
  )
  const countTasks = query<[string], { readonly status: TaskRow["status"]; readonly n: number }>(
    db,
    "SELECT status, COUNT(*) AS n FROM rm_tasks WHERE user_id = ? GROUP BY status"
  )
  const touchedSince = query<[string, number], StoredTaskRow>(
    db,
    `SELECT ${TASK_COLUMNS} FROM rm_tasks WHERE user_id = ? AND touched_at >= ?`
  )
  const actionsOfUser = query<[string, number], StoredActionRow>(
    db,
    `SELECT ${ACTION_COLUMNS} FROM rm_actions WHERE user_id = ? ORDER BY created_at DESC, seq LIMIT ?`
  )
  const countActions = query<[], { readonly status: ActionRow["status"]; readonly n: number }>(
    db,
    "SELECT status, COUNT(*) AS n FROM rm_actions GROUP BY status"
  )

  // Queries whose `IN (…)` list varies in length: prepared once per shape, on first use.
  const statements = new Map<string, ReturnType<typeof query<ReadonlyArray<SQLInputValue>, unknown>>>()
  const dynamic = <R>(sql: string, params: ReadonlyArray<SQLInputValue>): Array<R> => {
    let statement = statements.get(sql)
    if (statement === undefined) {
      statement = query<ReadonlyArray<SQLInputValue>, unknown>(db, sql)
      statements.set(sql, statement)
    }
    // The SQL text at each call site fixes the rows' shape.
    return statement.all(...params) as Array<R>
  }

  const attempt = <A>(operation: string, body: () => A): Effect.Effect<A, EventStoreError> =>
    Effect.try({ try: body, catch: (cause) => new EventStoreError({ operation, message: describe(cause) }) })

  const counted = <K extends string>(rows: ReadonlyArray<{ readonly status: K; readonly n: number }>) => {
    const counts: Partial<Record<K, number>> = {}
    for (const row of rows) counts[row.status] = row.n
    return counts
  }

  const write = (change: RowWrite) => {
    switch (change.table) {
      case "tasks": {
        const r = change.row
        upsertTask.run(
          r.task_id,
          r.user_id,
          r.status,
          r.created_at,
          r.updated_at,
          r.touched_at,
          JSON.stringify(r.state)
        )
        return
      }
      case "actions": {
        const r = change.row
        upsertAction.run(
          r.action_id,
          r.user_id,
          r.status,
          r.due_at,
          r.created_at,
          r.seq,
          JSON.stringify(r.state)
        )
        return
      }
    }
  }

  return {
    checkpoint: (subscription) =>
      attempt("checkpoint", () => Option.fromNullishOr(selectCheckpoint.get(subscription))),
    commit: (subscription, version, from, to, writes) =>
      Effect.suspend((): Effect.Effect<void, CheckpointMoved | EventStoreError> => {
        let moved = false
        try {
          inTransaction(() => {
            const stored = selectCheckpoint.get(subscription)
            const at = stored === undefined ? 0 : stored.version === version ? stored.position : -1
            if (at !== from) {
              moved = true
              return
            }
            for (const change of writes) write(change)
            upsertCheckpoint.run(subscription, version, to)
          })
        } catch (cause) {
          return Effect.fail(new EventStoreError({ operation: "commit", message: describe(cause) }))
        }
        return moved ? Effect.fail(new CheckpointMoved({ subscription, expected: from })) : Effect.void
      }),
    reset: (subscription, version, tables) =>
      attempt("reset", () =>
        inTransaction(() => {
          for (const table of tables) db.exec(`DELETE FROM ${TABLE_NAMES[table]}`)
          upsertCheckpoint.run(subscription, version, 0)
        })
      ),
    tasks: {
      byIds: (ids) =>
        attempt("readModel", () =>
          ids.length === 0
            ? []
            : dynamic<StoredTaskRow>(
                `SELECT ${TASK_COLUMNS} FROM rm_tasks WHERE task_id IN (${placeholders(ids.length)})`,
                ids
              ).map(taskOf)
        ),
      page: (userId, { statuses, limit, offset }) =>
        attempt("readModel", () => {
          const where = `user_id = ? AND status IN (${placeholders(statuses.length)})`
          const rows = dynamic<StoredTaskRow>(
            `SELECT ${TASK_COLUMNS} FROM rm_tasks WHERE ${where} ORDER BY created_at DESC, task_id DESC LIMIT ? OFFSET ?`,
            [userId, ...statuses, bounded(limit), bounded(offset)]
          )
          const [count] = dynamic<{ readonly n: number }>(
            `SELECT COUNT(*) AS n FROM rm_tasks WHERE ${where}`,
            [userId, ...statuses]
          )
          return { rows: rows.map(taskOf), total: count?.n ?? 0 }
        }),
      recentlyUpdated: (userId, statuses, limit) =>
        attempt("readModel", () =>
          dynamic<StoredTaskRow>(
            `SELECT ${TASK_COLUMNS} FROM rm_tasks WHERE user_id = ? AND status IN (${placeholders(statuses.length)})
             ORDER BY updated_at DESC, task_id DESC LIMIT ?`,
            [userId, ...statuses, bounded(limit)]
          ).map(taskOf)
        ),
      counts: (userId) => attempt("readModel", () => counted(countTasks.all(userId))),
      touchedSince: (userId, since) =>
        attempt("readModel", () => touchedSince.all(userId, since).map(taskOf)),
      updatedSince: (userId, statuses, since) =>
        attempt("readModel", () =>
          dynamic<StoredTaskRow>(
            `SELECT ${TASK_COLUMNS} FROM rm_tasks
             WHERE user_id = ? AND updated_at >= ? AND status IN (${placeholders(statuses.length)})`,
            [userId, since, ...statuses]
          ).map(taskOf)
        )
    },
    actions: {
      byIds: (ids) =>
        attempt("readModel", () =>
          ids.length === 0
            ? []
            : dynamic<StoredActionRow>(
                `SELECT ${ACTION_COLUMNS} FROM rm_actions WHERE action_id IN (${placeholders(ids.length)})`,
                ids
              ).map(actionOf)
        ),
      ofUser: (userId, limit) =>
        attempt("readModel", () => actionsOfUser.all(userId, bounded(limit)).map(actionOf)),
      open: ({ userId, limit }) =>
        attempt("readModel", () =>
          dynamic<StoredActionRow>(
            `SELECT ${ACTION_COLUMNS} FROM rm_actions WHERE status IN ('pending', 'in_progress')
             ${userId === undefined ? "" : "AND user_id = ?"} ORDER BY due_at, action_id LIMIT ?`,
            userId === undefined ? [bounded(limit)] : [userId, bounded(limit)]
          ).map(actionOf)
        ),
      counts: attempt("readModel", () => counted(countActions.all()))
    }
  }
}
