import { Context, Effect, Layer, Option, Stream } from "effect"
import type { ClientSession, Collection, Db, IndexDescription, MongoClient } from "mongodb"
import { ReadModelStore } from "../eventsourcing/ReadModelStore.ts"
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
  type StoredEvent,
  VersionConflict
} from "./EventStore.ts"
import { logReleased } from "./Logging.ts"
import { makeMongoReadModels } from "./ReadModelStoreMongo.ts"

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
 * The price is that appends are serialised on one document (hundreds per second on a replica set);
 * partitioning the counter per shard key is the path beyond that. Transactions need a replica set.
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

/** Which unique index a duplicate-key error (E11000) hit, read from the server's message. */
export type DuplicateKey = "stream-head" | "stream-version" | "event-id" | "other"

const codeOf = (error: unknown): unknown =>
  typeof error === "object" && error !== null && "code" in error ? error.code : undefined

export const duplicateKeyOf = (error: unknown): DuplicateKey | undefined => {
  if (codeOf(error) !== 11000) return undefined
  const message = error instanceof Error ? error.message : String(error)
  const match = /collection: \S+?\.(\w+) index: (\S+)/.exec(message)
  const [, collection, index] = match ?? []
  if (collection === COLLECTIONS.streams) return "stream-head"
  if (collection === COLLECTIONS.events && index === "streamId_version") return "stream-version"
  if (collection === COLLECTIONS.events && index === "_id_") return "event-id"
  return "other"
}

/** Thrown inside the transaction callback when the stream head does not match: aborts the transaction. */
class StreamHeadMismatch extends Error {}

/**
 * How a failed append transaction surfaces: a lost race on the stream is a `VersionConflict`, a
 * duplicate event id may be a concurrent retry of the same batch (the caller checks), anything else is
 * an `EventStoreError`. Never a raw driver error.
 */
export const classifyAppendFailure = (
  error: unknown
): "conflict" | "duplicate-event-id" | { readonly message: string } => {
  if (error instanceof StreamHeadMismatch) return "conflict"
  switch (duplicateKeyOf(error)) {
    case "stream-head":
    case "stream-version":
      return "conflict"
    case "event-id":
      return "duplicate-event-id"
    default:
      return { message: error instanceof Error ? error.message : String(error) }
  }
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

export const makeMongoEventStore = (client: MongoClient, db: Db) =>
  Effect.gen(function* () {
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
      Effect.tryPromise({
        try: run,
        catch: (cause) => new EventStoreError({ operation, message: describe(cause) })
      })

    // Idempotent at start-up: creating an existing index or collection is a no-op.
    yield* attempt("init", async () => {
      await events.createIndexes([...EVENT_INDEXES])
      const existing = new Set(
        (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name)
      )
      for (const name of [COLLECTIONS.streams, COLLECTIONS.counters, COLLECTIONS.snapshots]) {
        if (!existing.has(name)) {
          await db.createCollection(name).catch((error: unknown) => {
            if (codeOf(error) !== 48) throw error // 48: NamespaceExists, another process won the race
          })
        }
      }
    })

    const headVersion = async (streamId: string, session?: ClientSession): Promise<number> =>
      (await streams.findOne({ _id: streamId }, session ? { session } : {}))?.version ?? 0

    /** The stored result when the batch's event ids are already stored in order in this stream. */
    const storedBatch = async (
      streamId: string,
      batch: ReadonlyArray<NewEvent>,
      session?: ClientSession
    ): Promise<AppendResult | "absent" | "reused"> => {
      const head = batch[0]
      if (!head) return "absent"
      const first = await events.findOne({ _id: head.eventId }, session ? { session } : {})
      if (!first) return "absent"
      if (first.streamId !== streamId) return "reused"
      const docs = await events
        .find(
          { streamId, version: { $gte: first.version, $lt: first.version + batch.length } },
          session ? { session } : {}
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
        const after = await streams.findOneAndUpdate(
          { _id: streamId },
          { $inc: { version: count } },
          { upsert: true, returnDocument: "after", session }
        )
        return (after?.version ?? count) - count
      }
      if (required === 0) {
        // A concurrent creator makes this fail with E11000 on `streams`: a VersionConflict.
        await streams.insertOne({ _id: streamId, version: count }, { session })
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

    const appendOnce = (streamId: string, expected: ExpectedVersion, batch: ReadonlyArray<NewEvent>) =>
      client.withSession((session) =>
        session.withTransaction(
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
            await events.insertMany(docs, { session, ordered: true })
            return {
              streamId,
              version: current + batch.length,
              events: docs.map(fromDocument),
              duplicate: false
            }
          },
          { readConcern: { level: "snapshot" }, writeConcern: { w: "majority" } }
        )
      )

    const append: EventStoreShape["append"] = (streamId, expectedVersion, batch) =>
      Effect.tryPromise({
        try: () => appendOnce(streamId, expectedVersion, batch),
        catch: (error) => error
      }).pipe(
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
          return Effect.fail(new EventStoreError({ operation: "append", message: failure.message }))
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

    const store: EventStoreShape = {
      kind: "mongodb",
      append,
      read: (streamId, options) =>
        paged(
          "read",
          Math.max(1, options?.fromVersion ?? 1),
          (fromVersion) =>
            committedEvents
              .find({ streamId, version: { $gte: fromVersion } })
              .sort({ version: 1 })
              .limit(READ_PAGE_SIZE)
              .toArray(),
          (last) => last.version + 1
        ),
      readPage: (streamId, fromVersion) =>
        attempt("read", () =>
          committedEvents
            .find({ streamId, version: { $gte: Math.max(1, fromVersion) } })
            .sort({ version: 1 })
            .limit(READ_PAGE_SIZE)
            .toArray()
        ).pipe(Effect.map((docs) => docs.map(fromDocument))),
      readAll: (options) =>
        paged(
          "readAll",
          Math.max(1, options?.fromPosition ?? 1),
          (fromPosition) =>
            committedEvents
              .find({ position: { $gte: fromPosition } })
              .sort({ position: 1 })
              .limit(READ_PAGE_SIZE)
              .toArray(),
          (last) => last.position + 1
        ),
      saveSnapshot: (snapshot) =>
        attempt("saveSnapshot", async () => {
          await snapshots
            .updateOne(
              { _id: snapshot.streamId, version: { $lt: snapshot.version } },
              { $set: { version: snapshot.version, state: snapshot.state } },
              { upsert: true }
            )
            .catch((error: unknown) => {
              // The upsert found a newer snapshot (the filter excluded it) and tried to insert: keep it.
              if (codeOf(error) !== 11000) throw error
            })
        }),
      loadSnapshot: (streamId) =>
        attempt("loadSnapshot", () => snapshots.findOne({ _id: streamId })).pipe(
          Effect.map((doc) =>
            Option.map(Option.fromNullishOr(doc), (d) => ({ streamId, version: d.version, state: d.state }))
          )
        ),
      // The counter is written in each append's transaction: its majority-committed value is the
      // position of the last event a majority reader can see.
      head: attempt("head", () =>
        db
          .collection<CounterDocument>(COLLECTIONS.counters, { readConcern: { level: "majority" } })
          .findOne({ _id: "events" })
      ).pipe(Effect.map((doc) => doc?.position ?? 0)),
      ping: attempt("ping", () => db.command({ ping: 1 })).pipe(Effect.asVoid)
    }
    return store
  })

class ReusedEventId extends Error {}

const reusedError = (batch: ReadonlyArray<NewEvent>) =>
  new EventStoreError({
    operation: "append",
    message: `an event id of the batch (first ${batch[0]?.eventId}) is already stored at another position`
  })

/** The production store on the process's MongoDB pool and, beside it, the read models' collections. */
export const EventStoreMongoLive: Layer.Layer<EventStore | ReadModelStore, EventStoreError, Database> =
  Layer.effectContext(
    Effect.gen(function* () {
      const { client, db } = yield* Database
      yield* logReleased("event-store-mongodb")
      const store = yield* makeMongoEventStore(client, db)
      const readModels = yield* makeMongoReadModels(client, db)
      return Context.make(EventStore, store).pipe(Context.add(ReadModelStore, readModels))
    })
  )
