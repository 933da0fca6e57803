import { Context, Effect, Layer, Option, Stream } from "effect"
import {
  type ClientSession,
  type Collection,
  type Db,
  type IndexDescription,
  type MongoClient,
  MongoServerError
} from "mongodb"
import { ReadModelStore } from "../../eventsourcing/ReadModelStore.ts"
import { Database } from "./Database.ts"
import {
  type AppendResult,
  EventStore,
  EventStoreError,
  type EventStoreShape,
  type EventMetadata,
  type ExpectedVersion,
  type NewEvent,
  READ_PAGE_SIZE,
  requiredVersion,
  type Snapshot,
  type StoredEvent,
  VersionConflict
} from "../../eventsourcing/EventStore.ts"
import { logReleased } from "../observability/Logging.ts"
import {
  appendTransactionOptions,
  callWithin,
  codeOf,
  isTimeout,
  type MongoStoreOptions,
  runTransaction,
  toStoreError
} from "./mongoBounds.ts"
import { makeMongoReadModels } from "./ReadModelStoreMongo.ts"

// The bounds live in mongoBounds.ts (shared with the read models); callers and tests keep this path.
export {
  appendTransactionOptions,
  callWithin,
  DeadlineExceeded,
  isTimeout,
  type MongoStoreOptions,
  runTransaction,
  toStoreError
} from "./mongoBounds.ts"

/*
 * Collections (all in MONGODB_DB):
 * - `events`    one document per event, `_id` = eventId (so an event id is unique for free).
 *               Indexes: `streamId_version` unique {streamId: 1, version: 1} (no two events at one
 *               version, and the stream read path); `position` unique {position: 1} (the readAll path).
 * - `streams`   one head document per stream {_id: streamId, version}: the optimistic-concurrency guard.
 *               A conditional update on it (or an insert for "noStream") decides who wins a race.
 * - `counters`  {_id: "events", position}: the last allocated global position.
 * - `snapshots` {_id: streamId, version, state}: the latest snapshot of each stream.
 *
 * Global order without the oplog: every append runs in one multi-document transaction that bumps the
 * counter with `$inc`. The counter document is written by every append, so two appends whose
 * transactions overlap hit a write conflict; the driver aborts and retries the later one, which then
 * reads the counter value the earlier one committed. Positions are therefore allocated in commit order
 * and each transaction's events become visible atomically, so a reader that resumes "after position p"
 * can never skip an event that commits later with a smaller position. Catch-up is an indexed range
 * query on `position`, kept as long as the events are: no dependence on oplog retention.
 * Transactions need a replica set (production: three data-bearing voting members, README).
 * Never run against a real MongoDB server here: no MongoDB binary can be installed on this machine, so
 * the conformance run (test/conformance/mongo.test.ts) has always been skipped; only the server-free
 * parts (test/eventstoreMongo.test.ts) have run. Run it with MONGODB_URI before trusting this file.
 *
 * Bounds (src/layers/eventstore/mongoBounds.ts, shared with the read models): every call is bounded by
 * MONGODB_OPERATION_TIMEOUT_MS (default 5 s): `maxTimeMS` on reads and
 * commands, `wtimeoutMS` on the majority write concern, `maxCommitTimeMS` on commits, a client-side
 * deadline on the caller's wait (`callWithin`), and our own transaction loop (`runTransaction`) in
 * place of `withTransaction`'s 120 s retry budget. Running out of time is an `EventStoreError` with
 * `reason: "timeout"`, which HTTP answers 503 `StoreUnavailable` with `Retry-After`.
 *
 * Throughput ceiling: the counter document is written by every append, so appends commit one at a
 * time: a transaction that writes the counter while another one's write to it is uncommitted gets a
 * write conflict and is retried. The ceiling is therefore ≈ 1 / T, where T is how long one
 * transaction holds the counter: from its `$inc` to the moment the next transaction can read the new
 * value, i.e. the insert of the events (one round trip), the commit, and (snapshot reads in a
 * majority transaction see majority-committed data) the replication of the commit to a majority.
 * NOT MEASURED HERE (no MongoDB server could be run on this machine); assumed figures for a replica
 * set in one data centre: round trip ≈ 0.5 ms, commit with journaled majority acknowledgement
 * ≈ 2–5 ms, so T ≈ 3–6 ms and the ceiling ≈ 170–330 appends/s for the whole system, whatever the
 * number of streams or backends; across zones (RTT ≈ 1–2 ms, T ≈ 5–10 ms): ≈ 100–200 appends/s.
 * Under contention it is lower: every conflict wastes a round of work, and the loser backs off
 * (5 ms growing to 500 ms). Measure T on the target cluster before relying on these numbers.
 *
 * Past the ceiling, keeping one global commit order for readAll (timestamps are not commit order, and
 * per-shard counters give no total order):
 * - group commit, as the SQLite store does: a process collects the appends that arrive within a few
 *   milliseconds and commits them in one transaction with one `$inc` of the counter by the batch's
 *   total; ceiling ≈ (appends per batch) / T. MongoDB has no savepoints, so an append whose stream head
 *   does not match must be detected before the writes (read the heads first, in the transaction) and
 *   answered alone with its VersionConflict while the rest commit.
 * - a single sequencer: one process (elected with a lease document, not a home-made cluster) owns the
 *   counter, assigns positions in memory and writes batches; its throughput is bounded by its own
 *   writes, not by conflicts, at the price of a fail-over pause when it changes.
 */

export interface EventDocument {
  readonly _id: string
  readonly streamId: string
  readonly version: number
  readonly position: number
  readonly type: string
  readonly data: unknown
  readonly metadata: EventMetadata
}

interface StreamDocument {
  readonly _id: string
  readonly version: number
}

interface CounterDocument {
  readonly _id: string
  readonly position: number
}

interface SnapshotDocument {
  readonly _id: string
  readonly version: number
  readonly state: unknown
}

export const COLLECTIONS = {
  events: "events",
  streams: "streams",
  counters: "counters",
  snapshots: "snapshots"
} as const

export const EVENT_INDEXES: ReadonlyArray<IndexDescription> = [
  { name: "streamId_version", key: { streamId: 1, version: 1 }, unique: true },
  { name: "position", key: { position: 1 }, unique: true }
]

export const toDocument = (
  streamId: string,
  event: NewEvent,
  version: number,
  position: number
): EventDocument => ({
  _id: event.eventId,
  streamId,
  version,
  position,
  type: event.type,
  data: event.data,
  metadata: event.metadata
})

export const fromDocument = (doc: EventDocument): StoredEvent => ({
  eventId: doc._id,
  streamId: doc.streamId,
  version: doc.version,
  position: doc.position,
  type: doc.type,
  data: doc.data,
  metadata: doc.metadata
})

/** Which unique index a duplicate-key error (E11000) hit. */
export type DuplicateKey = "stream-head" | "stream-version" | "event-id" | "snapshot" | "other"

const keyPatternOf = (error: unknown): ReadonlyArray<string> | undefined => {
  if (typeof error !== "object" || error === null || !("keyPattern" in error)) return undefined
  const pattern = error.keyPattern
  return typeof pattern === "object" && pattern !== null ? Object.keys(pattern) : undefined
}

const sameKeys = (keys: ReadonlyArray<string>, expected: ReadonlyArray<string>) =>
  keys.length === expected.length && keys.every((key, i) => key === expected[i])

/**
 * The unique index a duplicate-key error on `collection` hit, from the server's `keyPattern` (the
 * message's wording is not an interface and differs between server versions). `keyPattern` alone does
 * not name the collection (`{_id: 1}` is every collection's), so the caller says which one it wrote.
 * Without a `keyPattern` (a server older than 4.4) the duplicate is "other": an `EventStoreError`, never
 * a guessed conflict.
 */
export const duplicateKeyOf = (
  error: unknown,
  collection: (typeof COLLECTIONS)[keyof typeof COLLECTIONS]
): DuplicateKey | undefined => {
  const code = codeOf(error)
  if (code !== 11000 && code !== 11001) return undefined
  const keys = keyPatternOf(error)
  if (keys === undefined) return "other"
  switch (collection) {
    case COLLECTIONS.streams:
      return sameKeys(keys, ["_id"]) ? "stream-head" : "other"
    case COLLECTIONS.snapshots:
      return sameKeys(keys, ["_id"]) ? "snapshot" : "other"
    case COLLECTIONS.events:
      if (sameKeys(keys, ["_id"])) return "event-id"
      if (sameKeys(keys, ["streamId", "version"])) return "stream-version"
      return "other"
    default:
      return "other"
  }
}

/** Thrown inside the transaction callback when the stream head does not match: aborts the transaction. */
class StreamHeadMismatch extends Error {}

/** Thrown inside the transaction callback when an event id of the batch is already stored. */
class DuplicateEventId extends Error {}

/**
 * How a failed append transaction surfaces: a lost race on the stream is a `VersionConflict`, a
 * duplicate event id may be a concurrent retry of the same batch (the caller checks), a timeout is a
 * retryable `EventStoreError`, anything else an `EventStoreError`. Never a raw driver error.
 */
export const classifyAppendFailure = (
  error: unknown
): "conflict" | "duplicate-event-id" | "timeout" | { readonly message: string } => {
  if (error instanceof StreamHeadMismatch) return "conflict"
  if (error instanceof DuplicateEventId) return "duplicate-event-id"
  if (isTimeout(error)) return "timeout"
  return { message: error instanceof Error ? error.message : String(error) }
}

export const makeMongoEventStore = (client: MongoClient, db: Db, options: MongoStoreOptions) =>
  Effect.gen(function* () {
    const bound = options.operationTimeoutMs
    // Server-side bound of every read and command outside a transaction. Inside one, operations carry
    // no `maxTimeMS` of their own: the commit is bounded by `maxCommitTimeMS` and `wtimeoutMS`, a lock
    // wait by the server's `maxTransactionLockRequestTimeoutMillis` (a write conflict, retried), and the
    // whole attempt by the client deadline and the loop in `runTransaction`.
    const limit = { maxTimeMS: bound } as const
    const events: Collection<EventDocument> = db.collection(COLLECTIONS.events)
    // Readers see only majority-committed events: a prefix of the commit order that no fail-over can
    // roll back, so a projection never consumes an event that later disappears.
    const committedEvents: Collection<EventDocument> = db.collection(COLLECTIONS.events, {
      readConcern: { level: "majority" }
    })
    const streams: Collection<StreamDocument> = db.collection(COLLECTIONS.streams)
    const counters: Collection<CounterDocument> = db.collection(COLLECTIONS.counters)
    const snapshots: Collection<SnapshotDocument> = db.collection(COLLECTIONS.snapshots)

    const attempt = <A>(operation: string, run: () => Promise<A>) =>
      callWithin(bound, run).pipe(Effect.mapError(toStoreError(operation, bound)))

    // Idempotent at start-up: creating an existing index or collection is a no-op.
    yield* attempt("init", async () => {
      await events.createIndexes([...EVENT_INDEXES], limit)
      const existing = new Set(
        (await db.listCollections({}, { nameOnly: true, ...limit }).toArray()).map((c) => c.name)
      )
      for (const name of [COLLECTIONS.streams, COLLECTIONS.counters, COLLECTIONS.snapshots]) {
        if (!existing.has(name)) {
          await db.createCollection(name, limit).catch((error: unknown) => {
            if (codeOf(error) !== 48) throw error // 48: NamespaceExists, another process won the race
          })
        }
      }
    })

    const inSession = (session?: ClientSession) => (session ? { session } : limit)

    const headVersion = async (streamId: string, session?: ClientSession): Promise<number> =>
      (await streams.findOne({ _id: streamId }, inSession(session)))?.version ?? 0

    /** The stored result when the batch's event ids are already stored in order in this stream. */
    const storedBatch = async (
      streamId: string,
      batch: ReadonlyArray<NewEvent>,
      session?: ClientSession
    ): Promise<AppendResult | "absent" | "reused"> => {
      const head = batch[0]
      if (!head) return "absent"
      const first = await events.findOne({ _id: head.eventId }, inSession(session))
      if (!first) return "absent"
      if (first.streamId !== streamId) return "reused"
      const docs = await events
        .find(
          { streamId, version: { $gte: first.version, $lt: first.version + batch.length } },
          inSession(session)
        )
        .sort({ version: 1 })
        .toArray()
      const matches = docs.length === batch.length && docs.every((doc, i) => doc._id === batch[i]?.eventId)
      if (!matches) return "reused"
      return {
        streamId,
        version: await headVersion(streamId, session),
        events: docs.map(fromDocument),
        duplicate: true
      }
    }

    /** A duplicate key on `collection` as the conflict or duplicate it means; other errors unchanged. */
    const classifyDuplicate =
      (collection: (typeof COLLECTIONS)[keyof typeof COLLECTIONS]) =>
      (error: unknown): never => {
        switch (duplicateKeyOf(error, collection)) {
          case "stream-head":
          case "stream-version":
            throw new StreamHeadMismatch()
          case "event-id":
            throw new DuplicateEventId()
          default:
            throw error
        }
      }

    /** Moves the stream head by `count` if it is where the append expects it; returns the old version. */
    const advanceHead = async (
      session: ClientSession,
      streamId: string,
      expected: ExpectedVersion,
      count: number
    ): Promise<number> => {
      const required = requiredVersion(expected)
      if (count === 0) {
        const current = await headVersion(streamId, session)
        if (required !== undefined && required !== current) throw new StreamHeadMismatch()
        return current
      }
      if (required === undefined) {
        const after = await streams
          .findOneAndUpdate(
            { _id: streamId },
            { $inc: { version: count } },
            { upsert: true, returnDocument: "after", session }
          )
          .catch(classifyDuplicate(COLLECTIONS.streams))
        return (after?.version ?? count) - count
      }
      if (required === 0) {
        // A concurrent creator makes this fail with E11000 on `streams`: a VersionConflict.
        await streams
          .insertOne({ _id: streamId, version: count }, { session })
          .catch(classifyDuplicate(COLLECTIONS.streams))
        return 0
      }
      const updated = await streams.updateOne(
        { _id: streamId, version: required },
        { $set: { version: required + count } },
        { session }
      )
      if (updated.matchedCount !== 1) throw new StreamHeadMismatch()
      return required
    }

    /**
     * The batch's documents in one `insert` command. Not `insertMany`: the driver rebuilds a bulk
     * write's errors from `code`, `errmsg` and `errInfo` only (node_modules/mongodb/src/bulk/common.ts,
     * `mergeBatchResults`), dropping the `keyPattern` that says which unique index was hit. One command
     * keeps one round trip inside the transaction, which holds the counter document meanwhile.
     */
    const insertEvents = async (session: ClientSession, docs: ReadonlyArray<EventDocument>) => {
      // A failed write comes back as `writeErrors` in an ok answer, or (in some server versions, inside
      // a transaction) as the command's own error: both carry `keyPattern`.
      const answer = await db
        .command({ insert: COLLECTIONS.events, documents: [...docs], ordered: true }, { session })
        .catch(classifyDuplicate(COLLECTIONS.events))
      const writeErrors: unknown = answer.writeErrors
      if (Array.isArray(writeErrors) && writeErrors.length > 0) {
        // As the driver's own insertOne does (node_modules/mongodb/src/operations/insert.ts).
        const first: unknown = writeErrors[0]
        classifyDuplicate(COLLECTIONS.events)(
          new MongoServerError(
            typeof first === "object" && first !== null ? first : { message: String(first) }
          )
        )
      }
    }

    const appendOnce = (
      signal: AbortSignal,
      streamId: string,
      expected: ExpectedVersion,
      batch: ReadonlyArray<NewEvent>
    ) =>
      client.withSession((session) =>
        runTransaction(
          session,
          {
            signal,
            deadlineAt: Date.now() + bound,
            transaction: appendTransactionOptions(bound)
          },
          async (): Promise<AppendResult> => {
            const stored = await storedBatch(streamId, batch, session)
            if (stored === "reused") throw new ReusedEventId()
            if (stored !== "absent") return stored
            const current = await advanceHead(session, streamId, expected, batch.length)
            if (batch.length === 0) return { streamId, version: current, events: [], duplicate: false }
            const counter = await counters.findOneAndUpdate(
              { _id: "events" },
              { $inc: { position: batch.length } },
              { upsert: true, returnDocument: "after", session }
            )
            const firstPosition = (counter?.position ?? batch.length) - batch.length + 1
            const docs = batch.map((event, i) =>
              toDocument(streamId, event, current + i + 1, firstPosition + i)
            )
            await insertEvents(session, docs)
            return {
              streamId,
              version: current + batch.length,
              events: docs.map(fromDocument),
              duplicate: false
            }
          }
        )
      )

    const append: EventStoreShape["append"] = (streamId, expectedVersion, batch) =>
      callWithin(bound, (signal) => appendOnce(signal, streamId, expectedVersion, batch)).pipe(
        Effect.catch((error) => {
          if (error instanceof ReusedEventId) return Effect.fail(reusedError(batch))
          const failure = classifyAppendFailure(error)
          if (failure === "conflict") {
            return attempt("append", () => headVersion(streamId)).pipe(
              Effect.flatMap((actual) =>
                Effect.fail(new VersionConflict({ streamId, expected: expectedVersion, actual }))
              )
            )
          }
          if (failure === "duplicate-event-id") {
            // A concurrent retry of the same batch committed first: answer with what it stored.
            return attempt("append", () => storedBatch(streamId, batch)).pipe(
              Effect.flatMap((stored) =>
                typeof stored === "string" ? Effect.fail(reusedError(batch)) : Effect.succeed(stored)
              )
            )
          }
          return Effect.fail(toStoreError("append", bound)(error))
        })
      )

    const paged = <Cursor>(
      operation: string,
      start: Cursor,
      page: (cursor: Cursor) => Promise<ReadonlyArray<EventDocument>>,
      next: (last: EventDocument) => Cursor
    ): Stream.Stream<StoredEvent, EventStoreError> =>
      Stream.paginate(start, (cursor) =>
        attempt(operation, () => page(cursor)).pipe(
          Effect.map((docs) => {
            const last = docs[docs.length - 1]
            return [
              docs.map(fromDocument),
              docs.length === READ_PAGE_SIZE && last ? Option.some(next(last)) : Option.none<Cursor>()
            ] as const
          })
        )
      )

    const streamPage = (streamId: string, fromVersion: number) =>
      committedEvents
        .find({ streamId, version: { $gte: fromVersion } }, limit)
        .sort({ version: 1 })
        .limit(READ_PAGE_SIZE)
        .toArray()

    /**
     * Keeps the higher version when snapshots race. The filter matches only an older snapshot; with
     * none stored the upsert inserts. Two first snapshots racing both try to insert: the loser's E11000
     * does not mean "a newer one is stored" (it may be the newer one), so it retries as a plain
     * conditional update, which applies only if its version is still the higher.
     */
    const keepHigherSnapshot = async (snapshot: Snapshot) => {
      const filter = { _id: snapshot.streamId, version: { $lt: snapshot.version } }
      const update = { $set: { version: snapshot.version, state: snapshot.state } }
      try {
        await snapshots.updateOne(filter, update, { upsert: true, ...limit })
      } catch (error) {
        if (duplicateKeyOf(error, COLLECTIONS.snapshots) !== "snapshot") throw error
        await snapshots.updateOne(filter, update, limit)
      }
    }

    const store: EventStoreShape = {
      kind: "mongodb",
      append,
      read: (streamId, options) =>
        paged(
          "read",
          Math.max(1, options?.fromVersion ?? 1),
          (fromVersion) => streamPage(streamId, fromVersion),
          (last) => last.version + 1
        ),
      readPage: (streamId, fromVersion) =>
        attempt("read", () => streamPage(streamId, Math.max(1, fromVersion))).pipe(
          Effect.map((docs) => docs.map(fromDocument))
        ),
      readAll: (options) =>
        paged(
          "readAll",
          Math.max(1, options?.fromPosition ?? 1),
          (fromPosition) =>
            committedEvents
              .find(
                options?.streamPrefixes === undefined
                  ? { position: { $gte: fromPosition } }
                  : {
                      position: { $gte: fromPosition },
                      streamId: { $regex: prefixPattern(options.streamPrefixes) }
                    },
                limit
              )
              .sort({ position: 1 })
              .limit(READ_PAGE_SIZE)
              .toArray(),
          (last) => last.position + 1
        ),
      saveSnapshot: (snapshot) => attempt("saveSnapshot", () => keepHigherSnapshot(snapshot)),
      loadSnapshot: (streamId) =>
        attempt("loadSnapshot", () => snapshots.findOne({ _id: streamId }, limit)).pipe(
          Effect.map((doc) =>
            Option.map(Option.fromNullishOr(doc), (d) => ({ streamId, version: d.version, state: d.state }))
          )
        ),
      // The counter is written in each append's transaction: its majority-committed value is the
      // position of the last event a majority reader can see.
      head: attempt("head", () =>
        db
          .collection<CounterDocument>(COLLECTIONS.counters, { readConcern: { level: "majority" } })
          .findOne({ _id: "events" }, limit)
      ).pipe(Effect.map((doc) => doc?.position ?? 0)),
      // A command takes its `maxTimeMS` in the command document, not in the options.
      ping: attempt("ping", () => db.command({ ping: 1, maxTimeMS: bound })).pipe(Effect.asVoid)
    }
    return store
  })

class ReusedEventId extends Error {}

/** An anchored pattern matching stream ids that start with one of `prefixes` (none matches nothing). */
const prefixPattern = (prefixes: ReadonlyArray<string>): RegExp =>
  prefixes.length === 0
    ? /(?!)/
    : new RegExp(`^(?:${prefixes.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})`)

const reusedError = (batch: ReadonlyArray<NewEvent>) =>
  new EventStoreError({
    operation: "append",
    message: `an event id of the batch (first ${batch[0]?.eventId}) is already stored at another position`
  })

/** The production store on the process's MongoDB pool and, beside it, the read models' collections. */
export const EventStoreMongoLive: Layer.Layer<EventStore | ReadModelStore, EventStoreError, Database> =
  Layer.effectContext(
    Effect.gen(function* () {
      const { client, db, operationTimeoutMs } = yield* Database
      yield* logReleased("event-store-mongodb")
      const store = yield* makeMongoEventStore(client, db, { operationTimeoutMs })
      const readModels = yield* makeMongoReadModels(client, db, { operationTimeoutMs })
      return Context.make(EventStore, store).pipe(Context.add(ReadModelStore, readModels))
    })
  )
