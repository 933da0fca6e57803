import { Config, Context, Effect, Layer, Option, Stream } from "effect"
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { ReadModelStore } from "../../eventsourcing/ReadModelStore.ts"
import { AppConfig } from "../config/AppConfig.ts"
import {
  type AppendResult,
  EventStore,
  EventStoreError,
  type EventStoreShape,
  type ExpectedVersion,
  type NewEvent,
  READ_PAGE_SIZE,
  requiredVersion,
  type StoredEvent,
  VersionConflict
} from "../../eventsourcing/EventStore.ts"
import { logReleased } from "../observability/Logging.ts"
import { makeSqliteReadModels, READ_MODEL_SCHEMA } from "./ReadModelStoreSqlite.ts"
import { type Query, query } from "./sqliteQuery.ts"

/*
 * Why `node:sqlite` (`DatabaseSync`) directly rather than an `@effect/sql` client:
 * - SqlClient.withTransaction opens transactions with a deferred `BEGIN`. An append reads the stream
 *   head and then writes; with a deferred transaction, a second process that commits in between makes
 *   the upgrade to a write lock fail at once with SQLITE_BUSY (the busy handler is not consulted for a
 *   stale WAL snapshot). `BEGIN IMMEDIATE` takes the write lock up front, so concurrent processes queue
 *   on `busy_timeout` instead of failing.
 * - The append path must sustain thousands of single-event commands per second from one process: here
 *   it is one synchronous call (three prepared statements and a commit), with no statement cache
 *   lookup, semaphore or fiber hop per statement.
 * `node:sqlite` is built into the runtime: no native addon to compile at install, and it measures the same
 * as better-sqlite3 did (BENCHMARKS.md, "Event store").
 * The cost: a call blocks the event loop while it runs, and while it waits for another process's write
 * lock (bounded by SQLITE_BUSY_TIMEOUT_MS). Writes hold the lock for well under a millisecond.
 *
 * Layout: `events.position` is the rowid. Events are never deleted, so the rowid SQLite allocates is
 * always max + 1: strictly increasing. Because `BEGIN IMMEDIATE` serialises writers, positions are
 * also allocated in commit order, so a catch-up reader can never see position p + 1 before p.
 *
 * Durability: WAL with `synchronous = NORMAL` does not fsync on each commit, only at checkpoints. The
 * database stays consistent in every case; a killed process loses nothing (its commits are in the WAL
 * in the OS page cache); only a power loss or OS crash may drop the last few commits, never part of one.
 */

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY,
  stream_id TEXT NOT NULL,
  version INTEGER NOT NULL,
  event_id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS snapshots (
  stream_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  state TEXT NOT NULL
);
`

interface EventRow {
  readonly position: number
  readonly stream_id: string
  readonly version: number
  readonly event_id: string
  readonly type: string
  readonly data: string
  readonly metadata: string
}

const COLUMNS = "position, stream_id, version, event_id, type, data, metadata"

const toStored = (row: EventRow): StoredEvent => ({
  streamId: row.stream_id,
  version: row.version,
  position: row.position,
  eventId: row.event_id,
  type: row.type,
  data: JSON.parse(row.data),
  metadata: JSON.parse(row.metadata)
})

/** An append waiting for the next group commit, and how to answer its caller. */
interface PendingAppend {
  readonly streamId: string
  readonly expected: ExpectedVersion
  readonly events: ReadonlyArray<NewEvent>
  readonly resume: (answer: Effect.Effect<AppendResult, VersionConflict | EventStoreError>) => void
}

/** Appends written per group commit at most, so one commit never holds the write lock for long. */
const MAX_GROUP = 256

type AppendOutcome =
  | { readonly _tag: "Appended"; readonly result: AppendResult }
  | { readonly _tag: "Conflict"; readonly actual: number }
  | { readonly _tag: "ReusedEventId"; readonly eventId: string }

export interface SqliteEventStoreOptions {
  /** A file path, or `:memory:` for a private in-memory database. */
  readonly filename: string
  readonly busyTimeoutMs?: number
}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

interface Bracket {
  readonly begin: string
  readonly commit: string
  readonly rollback: string
}

/**
 * A write transaction: `BEGIN IMMEDIATE` takes the write lock up front (see above), so another
 * process's writer makes this one wait on the busy timeout instead of failing.
 */
const TRANSACTION: Bracket = { begin: "BEGIN IMMEDIATE", commit: "COMMIT", rollback: "ROLLBACK" }
/** A savepoint inside the open transaction: if its body throws, only its own writes roll back. */
const SAVEPOINT: Bracket = {
  begin: "SAVEPOINT append",
  commit: "RELEASE append",
  rollback: "ROLLBACK TO append; RELEASE append"
}

/** A bracket whose begin and commit run as statements prepared on the store's connection. */
interface PreparedBracket {
  readonly begin: () => void
  readonly commit: () => void
  readonly rollback: string
}

const bracketedWith = <A>(db: DatabaseSync, bracket: PreparedBracket, body: () => A): A => {
  bracket.begin()
  try {
    const result = body()
    bracket.commit()
    return result
  } catch (cause) {
    // Some errors (disk full, I/O) have rolled the whole transaction back already.
    if (db.isTransaction) db.exec(bracket.rollback)
    throw cause
  }
}

/** Before the schema exists (nothing can be prepared yet): the SQL text, compiled by each call. */
const immediateTransaction = <A>(db: DatabaseSync, body: () => A): A =>
  bracketedWith(
    db,
    {
      begin: () => db.exec(TRANSACTION.begin),
      commit: () => db.exec(TRANSACTION.commit),
      rollback: TRANSACTION.rollback
    },
    body
  )

/**
 * The store holds password hashes: its file, and the -wal and -shm files SQLite creates with the main
 * file's mode, are readable by the owner only. A file made by an older build is narrowed too.
 */
const restrictFileModes = (filename: string) => {
  if (filename === ":memory:") return
  closeSync(openSync(filename, "a", 0o600))
  for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
    try {
      chmodSync(file, 0o600)
    } catch (cause) {
      // Absent, or removed just now by another process closing the store's last connection.
      if (!(cause instanceof Error && "code" in cause && cause.code === "ENOENT")) throw cause
    }
  }
}

const SQLITE_BUSY = 5
const isBusy = (cause: unknown): boolean =>
  cause instanceof Error && "errcode" in cause && typeof cause.errcode === "number"
    ? (cause.errcode & 0xff) === SQLITE_BUSY
    : false

const pause = new Int32Array(new SharedArrayBuffer(4))

/**
 * On a new file, the switch to WAL writes the file header in a rollback-journal transaction. A connection
 * that meets another one in the middle of that switch gets SQLITE_BUSY at once: the busy handler is not
 * called for it, since each holds a read lock the other's write would wait for. So processes opening a
 * fresh file together (several instances, or the server and the worker, on an empty DATA_DIR) retry the
 * switch here, for up to the busy timeout. Once the file is in WAL mode the pragma only reads.
 */
const enableWal = (db: DatabaseSync, busyTimeoutMs: number) => {
  const deadline = Date.now() + busyTimeoutMs
  for (;;) {
    try {
      db.exec("PRAGMA journal_mode = WAL")
      return
    } catch (cause) {
      if (!isBusy(cause) || Date.now() >= deadline) throw cause
      Atomics.wait(pause, 0, 0, 2 + Math.random() * 8)
    }
  }
}

export const makeSqliteEventStore = (options: SqliteEventStoreOptions) =>
  Effect.gen(function* () {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          restrictFileModes(options.filename)
          const busyTimeoutMs = options.busyTimeoutMs ?? 5000
          const db = new DatabaseSync(options.filename, { timeout: busyTimeoutMs })
          enableWal(db, busyTimeoutMs)
          db.exec("PRAGMA synchronous = NORMAL")
          // One write transaction taken up front (waiting on the busy timeout like any append), so
          // processes creating the schema together do it one after the other; IF NOT EXISTS makes
          // every one after the first a no-op.
          immediateTransaction(db, () => db.exec(SCHEMA + READ_MODEL_SCHEMA))
          return db
        },
        catch: (cause) =>
          new EventStoreError({
            operation: "open",
            message: `cannot open ${options.filename}: ${describe(cause)}`
          })
      }),
      (db) => Effect.sync(() => db.close())
    )

    const selectByEventId = query<[string], EventRow>(db, `SELECT ${COLUMNS} FROM events WHERE event_id = ?`)
    const selectHead = query<[string], { readonly version: number | null }>(
      db,
      "SELECT MAX(version) AS version FROM events WHERE stream_id = ?"
    )
    // The page size is written into the SQL, not bound: with `LIMIT ?` every call costs about four
    // times as much in SQLite (9 µs against 2 µs for an empty tail, measured with node:sqlite), and an
    // actor's tail read is on every request.
    const selectStream = query<[string, number], EventRow>(
      db,
      `SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ${READ_PAGE_SIZE}`
    )
    /** A retried batch's stored events: as many as the batch has. */
    const selectBatch = query<[string, number, number], EventRow>(
      db,
      `SELECT ${COLUMNS} FROM events WHERE stream_id = ? AND version >= ? ORDER BY version LIMIT ?`
    )
    const selectAll = query<[number], EventRow>(
      db,
      `SELECT ${COLUMNS} FROM events WHERE position >= ? ORDER BY position LIMIT ${READ_PAGE_SIZE}`
    )
    /**
     * `readAll` of some streams: prepared once per list of prefixes. The prefixes are written into the
     * SQL as quoted literals (`substr` compares bytes exactly, unlike `LIKE`), since they come from code.
     */
    const selectAllByPrefixes = new Map<string, Query<[number], EventRow>>()
    const selectAllOf = (prefixes: ReadonlyArray<string>): Query<[number], EventRow> => {
      const key = JSON.stringify(prefixes)
      let select = selectAllByPrefixes.get(key)
      if (select === undefined) {
        const literal = (text: string) => `'${text.replaceAll("'", "''")}'`
        const matches =
          prefixes.length === 0
            ? "0"
            : prefixes.map((p) => `substr(stream_id, 1, ${p.length}) = ${literal(p)}`).join(" OR ")
        select = query<[number], EventRow>(
          db,
          `SELECT ${COLUMNS} FROM events WHERE position >= ? AND (${matches}) ORDER BY position LIMIT ${READ_PAGE_SIZE}`
        )
        selectAllByPrefixes.set(key, select)
      }
      return select
    }
    const insertEvent = query<[string, number, string, string, string, string]>(
      db,
      "INSERT INTO events (stream_id, version, event_id, type, data, metadata) VALUES (?, ?, ?, ?, ?, ?)"
    )
    const upsertSnapshot = query<[string, number, string]>(
      db,
      `INSERT INTO snapshots (stream_id, version, state) VALUES (?, ?, ?)
       ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, state = excluded.state
       WHERE excluded.version > snapshots.version`
    )
    const selectSnapshot = query<[string], { readonly version: number; readonly state: string }>(
      db,
      "SELECT version, state FROM snapshots WHERE stream_id = ?"
    )
    const selectOne = query<[]>(db, "SELECT 1")
    const selectLastPosition = query<[], { readonly position: number | null }>(
      db,
      "SELECT MAX(position) AS position FROM events"
    )

    /*
     * The brackets of the append path, prepared once: `db.exec` compiles its SQL on every call, and a
     * group commit runs a savepoint and its release per append. (The rollbacks stay `exec`: they are
     * rare, and "ROLLBACK TO …; RELEASE …" is two statements.)
     */
    const prepared = (bracket: Bracket): PreparedBracket => {
      const begin = db.prepare(bracket.begin)
      const commit = db.prepare(bracket.commit)
      return { begin: () => begin.run(), commit: () => commit.run(), rollback: bracket.rollback }
    }
    const transactionStatements = prepared(TRANSACTION)
    const savepointStatements = prepared(SAVEPOINT)
    const inTransaction = <A>(body: () => A): A => bracketedWith(db, transactionStatements, body)
    const inSavepoint = <A>(body: () => A): A => bracketedWith(db, savepointStatements, body)

    /** A batch whose first event id is stored already is a retry: it must match what is stored. */
    const replayed = (streamId: string, events: ReadonlyArray<NewEvent>, first: EventRow): AppendOutcome => {
      const rows = selectBatch.all(streamId, first.version, events.length)
      const matches =
        first.stream_id === streamId &&
        rows.length === events.length &&
        rows.every((row, i) => row.event_id === events[i]?.eventId && row.version === first.version + i)
      if (!matches) return { _tag: "ReusedEventId", eventId: first.event_id }
      const head = selectHead.get(streamId)?.version ?? 0
      return {
        _tag: "Appended",
        result: { streamId, version: head, events: rows.map(toStored), duplicate: true }
      }
    }

    /** One append's reads and writes; the caller runs it in a transaction or a savepoint. */
    const appendStatements = (
      streamId: string,
      expected: ExpectedVersion,
      events: ReadonlyArray<NewEvent>
    ): AppendOutcome => {
      const first = events[0] ? selectByEventId.get(events[0].eventId) : undefined
      if (first) return replayed(streamId, events, first)
      const current = selectHead.get(streamId)?.version ?? 0
      const required = requiredVersion(expected)
      if (required !== undefined && required !== current) return { _tag: "Conflict", actual: current }
      const stored = events.map((event, i): StoredEvent => {
        const version = current + i + 1
        const { lastInsertRowid } = insertEvent.run(
          streamId,
          version,
          event.eventId,
          event.type,
          JSON.stringify(event.data),
          JSON.stringify(event.metadata)
        )
        return { ...event, streamId, version, position: Number(lastInsertRowid) }
      })
      return {
        _tag: "Appended",
        result: { streamId, version: current + events.length, events: stored, duplicate: false }
      }
    }

    const answer = (
      pending: Pick<PendingAppend, "streamId" | "expected">,
      outcome: AppendOutcome | { readonly _tag: "Failed"; readonly cause: unknown }
    ): Effect.Effect<AppendResult, VersionConflict | EventStoreError> => {
      switch (outcome._tag) {
        case "Appended":
          return Effect.succeed(outcome.result)
        case "Conflict":
          return Effect.fail(
            new VersionConflict({
              streamId: pending.streamId,
              expected: pending.expected,
              actual: outcome.actual
            })
          )
        case "ReusedEventId":
          return Effect.fail(
            new EventStoreError({
              operation: "append",
              message: `event id ${outcome.eventId} is already stored at another position`
            })
          )
        case "Failed": {
          // A duplicate id inside the batch, or one stored elsewhere that is not the batch's first.
          const message = describe(outcome.cause)
          return Effect.fail(
            new EventStoreError({
              operation: "append",
              message: message.includes("events.event_id")
                ? `an event id of the batch is already stored at another position: ${message}`
                : message
            })
          )
        }
      }
    }

    /*
     * Group commit. Appends that arrive within one turn of the event loop are written in one
     * transaction, each inside its own savepoint: an append that fails rolls back alone and is answered alone; the others commit together. A commit costs about as
     * much as ten single-row inserts (WAL frames for the same pages, the lock, the header), so under load
     * this is the difference between one commit per command and one per turn. Each append stays atomic
     * and isolated exactly as before; positions are still allocated in commit order. An idle store pays
     * one `setImmediate` hop per append. (File databases only: see `immediateAppend`.)
     */
    const commitGroup = (group: ReadonlyArray<PendingAppend>) =>
      inTransaction(() =>
        group.map((pending): AppendOutcome | { readonly _tag: "Failed"; readonly cause: unknown } => {
          try {
            return inSavepoint(() => appendStatements(pending.streamId, pending.expected, pending.events))
          } catch (cause) {
            // Some errors (disk full, I/O) roll back the whole transaction, not just the savepoint: then
            // the group is lost and must fail as one, not go on in autocommit.
            if (!db.isTransaction) throw cause
            return { _tag: "Failed", cause }
          }
        })
      )

    const queued: Array<PendingAppend> = []
    let flushScheduled = false
    const flush = () => {
      flushScheduled = false
      const group = queued.splice(0, MAX_GROUP)
      if (queued.length > 0) scheduleFlush()
      if (group.length === 0) return
      let outcomes: ReturnType<typeof commitGroup>
      try {
        outcomes = commitGroup(group)
      } catch (cause) {
        // The group's transaction itself failed (lock timeout, I/O): nothing of it was written.
        for (const pending of group) pending.resume(answer(pending, { _tag: "Failed", cause }))
        return
      }
      group.forEach((pending, i) => {
        const outcome = outcomes[i]
        pending.resume(
          outcome === undefined
            ? Effect.die(new Error("group commit lost an append"))
            : answer(pending, outcome)
        )
      })
    }
    const scheduleFlush = () => {
      if (flushScheduled) return
      flushScheduled = true
      setImmediate(flush)
    }
    // Runs before the database closes (finalizers run in reverse): appends queued at shutdown are written.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        while (queued.length > 0) flush()
      })
    )

    // Not interruptible once queued: an append whose caller was interrupted may still be written by the
    // next flush (or the one at shutdown), as with any store whose reply can be lost. Re-sending the same
    // event ids is answered from the store, which is how the actors retry.
    const queuedAppend: EventStoreShape["append"] = (streamId, expected, events) =>
      Effect.callback<AppendResult, VersionConflict | EventStoreError>((resume) => {
        queued.push({ streamId, expected, events, resume })
        scheduleFlush()
      })

    // An in-memory database has no WAL to amortise and no other process to share a lock with: its
    // appends commit on the spot, which also keeps them synchronous for tests driven by the TestClock.
    const immediateAppend: EventStoreShape["append"] = (streamId, expected, events) =>
      Effect.suspend(() => {
        try {
          return answer(
            { streamId, expected },
            inTransaction(() => appendStatements(streamId, expected, events))
          )
        } catch (cause) {
          return answer({ streamId, expected }, { _tag: "Failed", cause })
        }
      })

    const append = options.filename === ":memory:" ? immediateAppend : queuedAppend

    const paged = <Cursor>(
      operation: string,
      start: Cursor,
      page: (cursor: Cursor) => ReadonlyArray<EventRow>,
      next: (last: EventRow) => Cursor
    ): Stream.Stream<StoredEvent, EventStoreError> =>
      Stream.paginate(start, (cursor) =>
        Effect.try({
          try: () => {
            const rows = page(cursor)
            const last = rows[rows.length - 1]
            return [
              rows.map(toStored),
              rows.length === READ_PAGE_SIZE && last ? Option.some(next(last)) : Option.none<Cursor>()
            ] as const
          },
          catch: (cause) => new EventStoreError({ operation, message: describe(cause) })
        })
      )

    const store: EventStoreShape = {
      kind: "sqlite",
      append,
      read: (streamId, readOptions) =>
        paged(
          "read",
          Math.max(1, readOptions?.fromVersion ?? 1),
          (fromVersion) => selectStream.all(streamId, fromVersion),
          (last) => last.version + 1
        ),
      readPage: (streamId, fromVersion) =>
        Effect.try({
          try: () => selectStream.all(streamId, Math.max(1, fromVersion)).map(toStored),
          catch: (cause) => new EventStoreError({ operation: "read", message: describe(cause) })
        }),
      readAll: (readOptions) => {
        const prefixes = readOptions?.streamPrefixes
        const select = prefixes === undefined ? selectAll : selectAllOf(prefixes)
        return paged(
          "readAll",
          Math.max(1, readOptions?.fromPosition ?? 1),
          (fromPosition) => select.all(fromPosition),
          (last) => last.position + 1
        )
      },
      saveSnapshot: (snapshot) =>
        Effect.try({
          try: () => {
            upsertSnapshot.run(snapshot.streamId, snapshot.version, JSON.stringify(snapshot.state))
          },
          catch: (cause) => new EventStoreError({ operation: "saveSnapshot", message: describe(cause) })
        }),
      loadSnapshot: (streamId) =>
        Effect.try({
          try: () =>
            Option.map(Option.fromNullishOr(selectSnapshot.get(streamId)), (row) => ({
              streamId,
              version: row.version,
              state: JSON.parse(row.state)
            })),
          catch: (cause) => new EventStoreError({ operation: "loadSnapshot", message: describe(cause) })
        }),
      head: Effect.try({
        try: () => selectLastPosition.get()?.position ?? 0,
        catch: (cause) => new EventStoreError({ operation: "head", message: describe(cause) })
      }),
      ping: Effect.try({
        try: () => {
          selectOne.get()
        },
        catch: (cause) => new EventStoreError({ operation: "ping", message: describe(cause) })
      })
    }
    return { store, readModels: makeSqliteReadModels(db, inTransaction) }
  })

/** The event store and, on the same connection, the read models' tables and checkpoints. */
export const layerSqlite = (
  options: SqliteEventStoreOptions
): Layer.Layer<EventStore | ReadModelStore, EventStoreError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const { store, readModels } = yield* makeSqliteEventStore(options)
      yield* logReleased("event-store-sqlite")
      return Context.make(EventStore, store).pipe(Context.add(ReadModelStore, readModels))
    })
  )

/** A private in-memory store: for tests. */
export const EventStoreSqliteMemory = layerSqlite({ filename: ":memory:" })

const BusyTimeoutMs = Config.Int("SQLITE_BUSY_TIMEOUT_MS").pipe(Config.withDefault(5000))

/** The embedded default: `DATA_DIR/focusforge.db`. */
export const EventStoreSqliteLive: Layer.Layer<EventStore | ReadModelStore, EventStoreError, AppConfig> =
  Layer.unwrap(
    Effect.gen(function* () {
      const { dataDir } = yield* AppConfig
      const busyTimeoutMs = yield* BusyTimeoutMs.pipe(Effect.orDie)
      yield* Effect.try({
        try: () => mkdirSync(dataDir, { recursive: true }),
        catch: (cause) => new EventStoreError({ operation: "open", message: describe(cause) })
      })
      return layerSqlite({ filename: join(dataDir, "focusforge.db"), busyTimeoutMs })
    })
  )
