import { Effect, Option } from "effect"
import type {
  AnyBulkWriteOperation,
  ClientSession,
  Collection,
  Db,
  Filter,
  IndexDescription,
  MongoClient
} from "mongodb"
import {
  type ActionRow,
  type Checkpoint,
  CheckpointMoved,
  type ReadModelStoreShape,
  type ReadModelTable,
  type RowWrite,
  type TaskRow
} from "../../eventsourcing/ReadModelStore.ts"
import type { EventStoreError } from "../../eventsourcing/EventStore.ts"
import {
  appendTransactionOptions,
  callWithin,
  codeOf,
  type MongoStoreOptions,
  runTransaction,
  toStoreError
} from "./mongoBounds.ts"

/*
 * Collections (beside the event store's, in MONGODB_DB):
 * - `subscription_checkpoints` {_id: subscription name, version, position}: one per subscription.
 * - `rm_tasks`   {_id: task_id, user_id, status, created_at, updated_at, touched_at, state}
 * - `rm_actions` {_id: action_id, user_id, status, due_at, created_at, seq, state}
 *
 * `state` is kept as the JSON text SQLite keeps, not as a sub-document: BSON would not give back every
 * JSON value as it was (keys with `$` or `.`, nesting past 100 levels, -0), and nothing queries inside
 * it. Ties in every sort are broken by `_id` exactly as SQLite breaks them by the id column, so both
 * stores answer the same rows in the same order; the indexes end in `_id` where a sort uses it, so
 * the sort is read from the index.
 *
 * A commit is one transaction (majority write concern, snapshot reads, like an append): the
 * checkpoint's compare-and-set on {_id, version, position: from}, then the rows. Two instances
 * committing the same page conflict on the checkpoint document; the driver retries the later one,
 * whose filter then matches nothing, so it aborts with nothing written. Reads use majority read
 * concern: a listing never shows a row that a fail-over could roll back.
 *
 * Bounds: as the event store's (src/layers/eventstore/mongoBounds.ts), every call is bounded by
 * MONGODB_OPERATION_TIMEOUT_MS: `maxTimeMS` on reads and commands outside a transaction, `wtimeoutMS`
 * and `maxCommitTimeMS` on commits, a client-side deadline on the caller's wait, and `runTransaction`
 * in place of `withTransaction` (whose 120 s retry budget would hold a subscription's fold long after
 * the caller gave up). Running out of time is an `EventStoreError` with `reason: "timeout"`.
 */

export const READ_MODEL_COLLECTIONS = {
  checkpoints: "subscription_checkpoints",
  tasks: "rm_tasks",
  actions: "rm_actions"
} as const

export const TASK_INDEXES: ReadonlyArray<IndexDescription> = [
  { name: "rm_tasks_user_created", key: { user_id: 1, created_at: 1 } },
  { name: "rm_tasks_user_status_created", key: { user_id: 1, status: 1, created_at: 1, _id: 1 } },
  { name: "rm_tasks_user_updated", key: { user_id: 1, updated_at: 1, _id: 1 } },
  { name: "rm_tasks_user_touched", key: { user_id: 1, touched_at: 1 } }
]

export const ACTION_INDEXES: ReadonlyArray<IndexDescription> = [
  // `ofUser` sorts created_at descending, ties by plan order (`seq`) ascending: the index has that shape.
  { name: "rm_actions_user_created_seq", key: { user_id: 1, created_at: -1, seq: 1 } },
  { name: "rm_actions_status_due", key: { status: 1, due_at: 1, _id: 1 } }
]

interface CheckpointDocument {
  readonly _id: string
  readonly version: number
  readonly position: number
}

interface TaskDocument extends Omit<TaskRow, "task_id" | "state"> {
  readonly _id: string
  readonly state: string
}

interface ActionDocument extends Omit<ActionRow, "action_id" | "state"> {
  readonly _id: string
  readonly state: string
}

const TABLE_COLLECTIONS: Record<ReadModelTable, string> = {
  tasks: READ_MODEL_COLLECTIONS.tasks,
  actions: READ_MODEL_COLLECTIONS.actions
}

/** SQLite refuses a row whose state has no JSON text (`undefined`, a function): so does this store. */
const encodeState = (state: unknown): string => {
  const text: string | undefined = JSON.stringify(state)
  if (text === undefined) throw new TypeError("a read-model row's state must be a JSON value")
  return text
}

export const taskDocument = (row: TaskRow): TaskDocument => ({
  _id: row.task_id,
  user_id: row.user_id,
  status: row.status,
  created_at: row.created_at,
  updated_at: row.updated_at,
  touched_at: row.touched_at,
  state: encodeState(row.state)
})

export const actionDocument = (row: ActionRow): ActionDocument => ({
  _id: row.action_id,
  user_id: row.user_id,
  status: row.status,
  due_at: row.due_at,
  created_at: row.created_at,
  seq: row.seq,
  state: encodeState(row.state)
})

export const taskOf = (doc: TaskDocument): TaskRow => ({
  task_id: doc._id,
  user_id: doc.user_id,
  status: doc.status,
  created_at: doc.created_at,
  updated_at: doc.updated_at,
  touched_at: doc.touched_at,
  state: JSON.parse(doc.state)
})

export const actionOf = (doc: ActionDocument): ActionRow => ({
  action_id: doc._id,
  user_id: doc.user_id,
  status: doc.status,
  due_at: doc.due_at,
  created_at: doc.created_at,
  seq: doc.seq,
  state: JSON.parse(doc.state)
})

/** Thrown inside the commit's transaction when the checkpoint is not at `from`: aborts it. */
class CheckpointMismatch extends Error {}

/**
 * SQLite's `LIMIT 0` is no rows and its negative OFFSET counts as 0, while MongoDB reads `limit(0)`
 * as "no limit" and rejects a negative `skip`: bounds are normalised so both stores agree.
 */
export const bounded = (n: number) => Math.max(0, n)

/**
 * The store over collections `initMongoReadModels` has prepared; no I/O until an operation runs.
 * `makeMongoReadModels` is both.
 */
export const mongoReadModelStore = (
  client: MongoClient,
  db: Db,
  options: MongoStoreOptions
): ReadModelStoreShape => {
  const bound = options.operationTimeoutMs
  // Inside a transaction operations carry no `maxTimeMS`: the commit is bounded by
  // `maxCommitTimeMS` and `wtimeoutMS`, the attempt by the client deadline and `runTransaction`.
  const timeLimit = { maxTimeMS: bound } as const
  const majority = { readConcern: { level: "majority" } } as const
  const checkpoints: Collection<CheckpointDocument> = db.collection(READ_MODEL_COLLECTIONS.checkpoints)
  const tasks: Collection<TaskDocument> = db.collection(READ_MODEL_COLLECTIONS.tasks)
  const actions: Collection<ActionDocument> = db.collection(READ_MODEL_COLLECTIONS.actions)
  const committedCheckpoints: Collection<CheckpointDocument> = db.collection(
    READ_MODEL_COLLECTIONS.checkpoints,
    majority
  )
  const committedTasks: Collection<TaskDocument> = db.collection(READ_MODEL_COLLECTIONS.tasks, majority)
  const committedActions: Collection<ActionDocument> = db.collection(READ_MODEL_COLLECTIONS.actions, majority)

  const attempt = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, EventStoreError> =>
    callWithin(bound, run).pipe(Effect.mapError(toStoreError(operation, bound)))

  const inTransaction = <A>(signal: AbortSignal, body: (session: ClientSession) => Promise<A>) =>
    client.withSession((session) =>
      runTransaction(
        session,
        { signal, deadlineAt: Date.now() + bound, transaction: appendTransactionOptions(bound) },
        () => body(session)
      )
    )

  const commitOnce = (
    signal: AbortSignal,
    subscription: string,
    version: number,
    from: number,
    to: number,
    writes: ReadonlyArray<RowWrite>
  ) =>
    inTransaction(signal, async (session) => {
      const moved = await checkpoints.updateOne(
        { _id: subscription, version, position: from },
        { $set: { position: to } },
        { session }
      )
      if (moved.matchedCount !== 1) {
        if (from !== 0) throw new CheckpointMismatch()
        // None stored counts as position 0 of any version; one stored (of another version, or
        // inserted by a concurrent first commit) makes this insert fail on `_id`.
        await checkpoints
          .insertOne({ _id: subscription, version, position: to }, { session })
          .catch((error) => {
            throw codeOf(error) === 11000 ? new CheckpointMismatch() : error
          })
      }
      // Applied in order, like SQLite's upserts: two writes of one row in a page leave the last.
      const taskWrites: Array<AnyBulkWriteOperation<TaskDocument>> = []
      const actionWrites: Array<AnyBulkWriteOperation<ActionDocument>> = []
      for (const change of writes) {
        if (change.table === "tasks") {
          const doc = taskDocument(change.row)
          taskWrites.push({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } })
        } else {
          const doc = actionDocument(change.row)
          actionWrites.push({ replaceOne: { filter: { _id: doc._id }, replacement: doc, upsert: true } })
        }
      }
      if (taskWrites.length > 0) await tasks.bulkWrite(taskWrites, { session, ordered: true })
      if (actionWrites.length > 0) await actions.bulkWrite(actionWrites, { session, ordered: true })
    })

  const counted = <K extends string>(docs: ReadonlyArray<{ readonly _id: K; readonly n: number }>) => {
    const counts: Partial<Record<K, number>> = {}
    for (const doc of docs) counts[doc._id] = doc.n
    return counts
  }

  const countByStatus = <D extends { readonly status: string }, K extends string>(
    collection: Collection<D>,
    match: Filter<D>
  ) =>
    collection
      .aggregate<{ readonly _id: K; readonly n: number }>(
        [{ $match: match }, { $group: { _id: "$status", n: { $sum: 1 } } }],
        timeLimit
      )
      .toArray()
      .then(counted)

  const store: ReadModelStoreShape = {
    checkpoint: (subscription) =>
      attempt("checkpoint", () => committedCheckpoints.findOne({ _id: subscription }, timeLimit)).pipe(
        Effect.map((doc) =>
          Option.map(
            Option.fromNullishOr(doc),
            (d): Checkpoint => ({ position: d.position, version: d.version })
          )
        )
      ),
    commit: (subscription, version, from, to, writes) =>
      callWithin(bound, (signal) => commitOnce(signal, subscription, version, from, to, writes)).pipe(
        Effect.mapError((cause) =>
          cause instanceof CheckpointMismatch
            ? new CheckpointMoved({ subscription, expected: from })
            : toStoreError("commit", bound)(cause)
        )
      ),
    reset: (subscription, version, tables) =>
      callWithin(bound, (signal) =>
        inTransaction(signal, async (session) => {
          for (const table of new Set(tables)) {
            await db.collection(TABLE_COLLECTIONS[table]).deleteMany({}, { session })
          }
          await checkpoints.updateOne(
            { _id: subscription },
            { $set: { version, position: 0 } },
            { upsert: true, session }
          )
        })
      ).pipe(Effect.mapError(toStoreError("reset", bound))),
    tasks: {
      byIds: (ids) =>
        attempt("readModel", async () =>
          ids.length === 0
            ? []
            : (await committedTasks.find({ _id: { $in: [...ids] } }, timeLimit).toArray()).map(taskOf)
        ),
      page: (userId, { statuses, limit, offset }) =>
        attempt("readModel", async () => {
          const filter: Filter<TaskDocument> = { user_id: userId, status: { $in: [...statuses] } }
          const [docs, total] = await Promise.all([
            bounded(limit) === 0
              ? []
              : committedTasks
                  .find(filter, timeLimit)
                  .sort({ created_at: -1, _id: -1 })
                  .skip(bounded(offset))
                  .limit(bounded(limit))
                  .toArray(),
            committedTasks.countDocuments(filter, timeLimit)
          ])
          return { rows: docs.map(taskOf), total }
        }),
      recentlyUpdated: (userId, statuses, limit) =>
        attempt("readModel", async () =>
          bounded(limit) === 0
            ? []
            : (
                await committedTasks
                  .find({ user_id: userId, status: { $in: [...statuses] } }, timeLimit)
                  .sort({ updated_at: -1, _id: -1 })
                  .limit(bounded(limit))
                  .toArray()
              ).map(taskOf)
        ),
      counts: (userId) =>
        attempt("readModel", () =>
          countByStatus<TaskDocument, TaskRow["status"]>(committedTasks, { user_id: userId })
        ),
      touchedSince: (userId, since) =>
        attempt("readModel", async () =>
          (
            await committedTasks.find({ user_id: userId, touched_at: { $gte: since } }, timeLimit).toArray()
          ).map(taskOf)
        ),
      updatedSince: (userId, statuses, since) =>
        attempt("readModel", async () =>
          (
            await committedTasks
              .find(
                { user_id: userId, updated_at: { $gte: since }, status: { $in: [...statuses] } },
                timeLimit
              )
              .toArray()
          ).map(taskOf)
        )
    },
    actions: {
      byIds: (ids) =>
        attempt("readModel", async () =>
          ids.length === 0
            ? []
            : (await committedActions.find({ _id: { $in: [...ids] } }, timeLimit).toArray()).map(actionOf)
        ),
      ofUser: (userId, limit) =>
        attempt("readModel", async () =>
          bounded(limit) === 0
            ? []
            : (
                await committedActions
                  .find({ user_id: userId }, timeLimit)
                  .sort({ created_at: -1, seq: 1 })
                  .limit(bounded(limit))
                  .toArray()
              ).map(actionOf)
        ),
      open: ({ userId, limit }) =>
        attempt("readModel", async () => {
          if (bounded(limit) === 0) return []
          const open: Filter<ActionDocument> = { status: { $in: ["pending", "in_progress"] } }
          const filter: Filter<ActionDocument> = userId === undefined ? open : { ...open, user_id: userId }
          // `due_at` null (no schedule) sorts first, as SQLite sorts NULL first ascending.
          return (
            await committedActions
              .find(filter, timeLimit)
              .sort({ due_at: 1, _id: 1 })
              .limit(bounded(limit))
              .toArray()
          ).map(actionOf)
        }),
      counts: attempt("readModel", () =>
        countByStatus<ActionDocument, ActionRow["status"]>(committedActions, {})
      )
    }
  }
  return store
}

/**
 * Idempotent at start-up, one bounded call. The collections exist before any transaction writes them,
 * so a commit never creates one inside a transaction (refused before MongoDB 4.4 and in cross-shard
 * ones).
 */
export const initMongoReadModels = (
  db: Db,
  options: MongoStoreOptions
): Effect.Effect<void, EventStoreError> => {
  const bound = options.operationTimeoutMs
  const timeLimit = { maxTimeMS: bound } as const
  return callWithin(bound, async () => {
    await db.collection(READ_MODEL_COLLECTIONS.tasks).createIndexes([...TASK_INDEXES], timeLimit)
    await db.collection(READ_MODEL_COLLECTIONS.actions).createIndexes([...ACTION_INDEXES], timeLimit)
    const existing = await db
      .listCollections({ name: READ_MODEL_COLLECTIONS.checkpoints }, { nameOnly: true, ...timeLimit })
      .toArray()
    if (existing.length === 0) {
      await db.createCollection(READ_MODEL_COLLECTIONS.checkpoints, timeLimit).catch((error: unknown) => {
        if (codeOf(error) !== 48) throw error // 48: NamespaceExists, another process won the race
      })
    }
  }).pipe(Effect.mapError(toStoreError("init", bound)))
}

export const makeMongoReadModels = (
  client: MongoClient,
  db: Db,
  options: MongoStoreOptions
): Effect.Effect<ReadModelStoreShape, EventStoreError> =>
  initMongoReadModels(db, options).pipe(Effect.as(mongoReadModelStore(client, db, options)))
