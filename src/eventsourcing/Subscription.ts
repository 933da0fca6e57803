import { Duration, Effect, Option, Schema, Semaphore, Stream } from "effect"
import { EventStore, type EventStoreError, READ_PAGE_SIZE, type StoredEvent } from "./EventStore.ts"
import { type CheckpointMoved, ReadModelStore, type ReadModelTable, type RowWrite } from "./ReadModelStore.ts"

/**
 * A subscription: a named consumer of the global log (`EventStore.readAll`) with a durable checkpoint
 * in the store itself. It reads a page after its checkpoint, folds it into row writes (and, for a
 * process manager, idempotent commands), and commits the rows with the checkpoint's move in one
 * transaction, by compare-and-set on the checkpoint: of two instances folding the same page, one
 * commits and the other rolls back, re-reads the checkpoint and goes on from there. A read model's rows
 * therefore reflect each event exactly once, whatever crashes or races; a handler's side effects run at
 * least once and must be idempotent (the wallet pays each block once).
 *
 * `version` names the fold: a stored checkpoint of another version empties the subscription's tables
 * and folds the log again from position 1 (a change of the rows' shape is a version bump, not a
 * migration: read models are derived data).
 */
export interface SubscriptionSpec<E, R> {
  readonly name: string
  readonly version: number
  /** The read-model tables it alone writes: emptied when it rebuilds. */
  readonly tables: ReadonlyArray<ReadModelTable>
  /** The stream-id prefixes whose events it folds (every stream when omitted). */
  readonly streams?: ReadonlyArray<string>
  /**
   * Folds one page of the log, in position order, into the row writes to commit with the checkpoint.
   * It may read its own tables (what it reads is at the checkpoint the commit then requires).
   */
  readonly handle: (page: ReadonlyArray<StoredEvent>) => Effect.Effect<ReadonlyArray<RowWrite>, E, R>
}

/** The read model could not be brought up to the log's head in time: answering would be stale. */
export class ReadModelBehind extends Schema.TaggedError<ReadModelBehind>()("ReadModelBehind", {
  subscription: Schema.String,
  retryAfterSeconds: Schema.Number
}) {}

export interface SubscriptionRun {
  /** The checkpoint after the run. */
  readonly position: number
  /** Events folded by this process in this run. */
  readonly folded: number
}

export interface Subscription<E = never> {
  readonly name: string
  /**
   * Folds everything committed before the call (up to the store's head as read now), within
   * `CATCH_UP_BOUND`; what a query runs before it reads the subscription's tables. Costs one head read
   * when this process has folded that far already.
   */
  readonly catchUp: Effect.Effect<void, ReadModelBehind>
  /** Folds up to the head, page by page, however long it takes: the background loop's step. */
  readonly run: Effect.Effect<SubscriptionRun, EventStoreError | E>
  /** Head position minus this process's last known checkpoint. */
  readonly lag: Effect.Effect<number, EventStoreError>
  /** Drops the tables and the checkpoint: the next run folds the log again from position 1. */
  readonly rebuild: Effect.Effect<void, EventStoreError>
}

/** How long a query waits for its read model to reach the head before answering `ReadModelBehind`. */
export const CATCH_UP_BOUND = Duration.seconds(1)

/** Resumes on a later turn of the event loop, after the I/O callbacks waiting now. */
const nextTurn = Effect.callback<void>((resume) => {
  setImmediate(() => resume(Effect.void))
})

/** A lost commit race is retried at once (the winner's checkpoint is re-read); this many times per page. */
const MAX_RACES = 20

export const makeSubscription = <E, R>(spec: SubscriptionSpec<E, R>) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const readModels = yield* ReadModelStore
    const context = yield* Effect.context<R>()
    // One fold at a time in this process: a second would only lose the commit race to the first.
    const lock = yield* Semaphore.make(1)
    // The last checkpoint this process read or wrote: how far the rows are known to be folded.
    let known = 0

    const handle = (page: ReadonlyArray<StoredEvent>) => Effect.provideContext(spec.handle(page), context)

    /** The stored checkpoint, rebuilding first when it was written by another version of the fold. */
    const checkpoint = Effect.gen(function* () {
      const stored = yield* readModels.checkpoint(spec.name)
      if (Option.isSome(stored) && stored.value.version !== spec.version) {
        yield* Effect.logWarning("read model rebuilding: its fold changed").pipe(
          Effect.annotateLogs({ subscription: spec.name, from: stored.value.version, to: spec.version })
        )
        yield* readModels.reset(spec.name, spec.version, spec.tables)
        return 0
      }
      return Option.match(stored, { onNone: () => 0, onSome: (c) => c.position })
    })

    /**
     * Folds and commits the next page: how many events it folded, or `undefined` when the checkpoint
     * was at the head already. The head is read before the page: every event up to it is committed, so
     * a page that is not full covers the log up to there, and the checkpoint moves past the events of
     * other streams too (a subscription of rare events does not rescan the log's tail on each call).
     */
    const step: Effect.Effect<number | undefined, EventStoreError | E> = Effect.gen(function* () {
      for (let race = 0; ; race++) {
        const from = yield* checkpoint
        known = Math.max(known, from)
        const head = yield* store.head
        const page = yield* Stream.runCollect(
          store
            .readAll({
              fromPosition: from + 1,
              ...(spec.streams === undefined ? {} : { streamPrefixes: spec.streams })
            })
            .pipe(Stream.take(READ_PAGE_SIZE))
        )
        const last = page[page.length - 1]
        const to =
          page.length === READ_PAGE_SIZE && last !== undefined
            ? last.position
            : Math.max(head, last?.position ?? from)
        if (to <= from) return undefined
        const writes = page.length === 0 ? [] : yield* handle(page)
        const committed = yield* readModels.commit(spec.name, spec.version, from, to, writes).pipe(
          Effect.as(true),
          Effect.catchTag("CheckpointMoved", (moved: CheckpointMoved) =>
            race < MAX_RACES ? Effect.succeed(false) : Effect.die(moved)
          )
        )
        if (committed) {
          known = Math.max(known, to)
          return page.length
        }
      }
    })

    /** Folds until the checkpoint reaches `target` or the log has no more events. */
    const runTo = (target: number) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          let folded = 0
          while (known < target) {
            const n = yield* step
            if (n === undefined) break
            folded += n
            // A page's fold and commit are synchronous on SQLite: without a turn of the event loop
            // between pages, a first catch-up of a long log would hold every request (and the liveness
            // probe) until it ended.
            if (known < target) yield* nextTurn
          }
          return { position: known, folded }
        })
      )

    const behind = new ReadModelBehind({ subscription: spec.name, retryAfterSeconds: 1 })

    const catchUp: Effect.Effect<void, ReadModelBehind> = Effect.gen(function* () {
      const head = yield* store.head
      if (known >= head) return
      yield* runTo(head)
    }).pipe(
      Effect.timeoutOrElse({ duration: CATCH_UP_BOUND, orElse: () => Effect.fail(behind) }),
      Effect.catch((error) =>
        error instanceof ReadModelBehind
          ? Effect.fail(error)
          : Effect.logWarning("read model catch-up failed").pipe(
              Effect.annotateLogs({ subscription: spec.name, error: String(error) }),
              Effect.andThen(Effect.fail(behind))
            )
      )
    )

    // The background loop trusts the stored checkpoint, not this process's memory of it: a rebuild
    // by another process (`projections:rebuild`) moved it back, and the loop folds again from there.
    const run: Effect.Effect<SubscriptionRun, EventStoreError | E> = Effect.gen(function* () {
      const head = yield* store.head
      known = yield* checkpoint
      return yield* runTo(head)
    })

    const lag = Effect.map(store.head, (head) => Math.max(0, head - known))

    const rebuild = lock.withPermits(1)(
      Effect.suspend(() => {
        known = 0
        return readModels.reset(spec.name, spec.version, spec.tables)
      })
    )

    return { name: spec.name, catchUp, run, lag, rebuild } satisfies Subscription<E>
  })
