import { Duration, Effect } from "effect"
import { type ClientSession, MongoError, type TransactionOptions, WriteConcern } from "mongodb"
import { EventStoreError } from "../../eventsourcing/EventStore.ts"

/*
 * The bounds every MongoDB store call runs under (the event store, src/layers/eventstore/EventStoreMongo.ts, and
 * the read models, src/layers/eventstore/ReadModelStoreMongo.ts): one module so that both use the same rules and
 * neither store imports the other's internals (EventStoreMongo.ts builds the read models, so an import
 * the other way would be a cycle).
 */

export interface MongoStoreOptions {
  /** `MONGODB_OPERATION_TIMEOUT_MS`: the bound on each store call, server side and client side. */
  readonly operationTimeoutMs: number
}

export const codeOf = (error: unknown): unknown =>
  typeof error === "object" && error !== null && "code" in error ? error.code : undefined

export const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** The caller's wait on a driver call ran past the bound (the server-side limits did not answer first). */
export class DeadlineExceeded extends Error {}

/**
 * Server answers that mean "out of time", not "refused": MaxTimeMSExpired (50, `maxTimeMS` and
 * `maxCommitTimeMS`), WriteConcernTimeout (64, `wtimeoutMS`: the majority did not acknowledge in
 * time), ExceededTimeLimit (262); and the driver's own: no usable server within
 * `serverSelectionTimeoutMS` (no primary during an election), a socket timeout.
 */
const TIMEOUT_CODES: ReadonlySet<unknown> = new Set([50, 64, 262])
const TIMEOUT_ERRORS: ReadonlySet<string> = new Set([
  "MongoServerSelectionError",
  "MongoNetworkTimeoutError",
  "MongoOperationTimeoutError",
  "MongoWaitQueueTimeoutError"
])

export const isTimeout = (error: unknown): boolean =>
  error instanceof DeadlineExceeded ||
  TIMEOUT_CODES.has(codeOf(error)) ||
  (error instanceof Error && TIMEOUT_ERRORS.has(error.name)) ||
  // A write concern timeout on a command that otherwise succeeded (`commitTransaction`).
  (typeof error === "object" &&
    error !== null &&
    "writeConcernError" in error &&
    TIMEOUT_CODES.has(codeOf(error.writeConcernError)))

/**
 * One driver call, the caller's wait bounded by `timeoutMs`. The installed driver (7.x) documents
 * `timeoutMS` as having no effect (node_modules/mongodb/src/mongo_client.ts: "`timeoutMS` has no effect
 * and will be removed in a future release"; `withTransaction` ignores it too), so the bound is ours:
 * the server stops its own work at `maxTimeMS`/`maxCommitTimeMS`/`wtimeoutMS`, and this deadline
 * covers what the server cannot (a partition, a hung socket, a pool with no free connection). The
 * interrupted promise is not cancelled: the signal stops our transaction loop from starting another
 * attempt, and the server-side limits end the call in flight. The driver's experimental `signal` option
 * is not passed: aborting mid-read closes the socket, which under an outage would empty the pool.
 */
export const callWithin = <A>(
  timeoutMs: number,
  run: (signal: AbortSignal) => Promise<A>
): Effect.Effect<A, unknown> =>
  Effect.tryPromise({ try: (signal) => run(signal), catch: (error) => error }).pipe(
    Effect.timeoutOrElse({
      duration: Duration.millis(timeoutMs),
      orElse: () => Effect.fail(new DeadlineExceeded(`no answer within ${timeoutMs} ms`))
    })
  )

/** A driver failure as the port's typed error; a timeout is marked retryable (HTTP 503). */
export const toStoreError =
  (operation: string, timeoutMs: number) =>
  (error: unknown): EventStoreError =>
    isTimeout(error)
      ? new EventStoreError({
          operation,
          reason: "timeout",
          message: `MongoDB did not answer within ${timeoutMs} ms (MONGODB_OPERATION_TIMEOUT_MS): ${describe(error)}`
        })
      : new EventStoreError({ operation, message: describe(error) })

const hasLabel = (error: unknown, label: string): boolean =>
  error instanceof MongoError && error.hasErrorLabel(label)

/**
 * `session.withTransaction` without its 120 s retry budget: the same retry rules (a transient
 * transaction error re-runs the body, an unknown commit result re-sends the commit) but no attempt
 * starts once `signal` is aborted (the caller's deadline passed) or `deadlineAt` is reached. The
 * driver's loop cannot be told a shorter budget (its `timeoutMS` is a no-op), and under contention on
 * the counter document it would keep retrying long after the caller gave up.
 */
export const runTransaction = async <A>(
  session: ClientSession,
  options: {
    readonly signal: AbortSignal
    readonly deadlineAt: number
    readonly transaction: TransactionOptions
  },
  body: () => Promise<A>
): Promise<A> => {
  const expired = () => options.signal.aborted || Date.now() >= options.deadlineAt
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) {
      // The driver's backoff: 5 ms growing by 1.5 up to 500 ms, jittered, so retries spread out.
      const backoff = Math.random() * Math.min(5 * 1.5 ** attempt, 500)
      if (Date.now() + backoff >= options.deadlineAt || options.signal.aborted)
        throw outOfTime(attempt, undefined)
      await new Promise((resolve) => setTimeout(resolve, backoff))
    }
    session.startTransaction(options.transaction)
    let result: A
    try {
      result = await body()
    } catch (error) {
      if (session.inTransaction()) await session.abortTransaction().catch(() => undefined)
      if (!hasLabel(error, "TransientTransactionError")) throw error
      // Retryable, but out of time: a timeout (503), not the conflict that happened to come last.
      if (expired()) throw outOfTime(attempt, error)
      continue
    }
    for (;;) {
      try {
        await session.commitTransaction()
        return result
      } catch (error) {
        const unknownResult = hasLabel(error, "UnknownTransactionCommitResult") && codeOf(error) !== 50 // 50: maxCommitTimeMS
        const transient = hasLabel(error, "TransientTransactionError")
        if (!unknownResult && !transient) throw error
        if (expired()) throw outOfTime(attempt, error)
        if (unknownResult) continue
        break
      }
    }
  }
}

const outOfTime = (attempt: number, last: unknown) =>
  new DeadlineExceeded(
    `transaction still retrying at its deadline after ${attempt + 1} attempt(s)${last === undefined ? "" : `: ${describe(last)}`}`,
    { cause: last }
  )

/**
 * Snapshot reads (an append's stream head and counter, a read-model commit's checkpoint, as of one
 * point), majority commit acknowledged within the bound (`wtimeoutMS`), the commit itself bounded by
 * `maxCommitTimeMS`.
 */
export const appendTransactionOptions = (timeoutMs: number): TransactionOptions => ({
  readConcern: { level: "snapshot" },
  writeConcern: new WriteConcern("majority", timeoutMs),
  maxCommitTimeMS: timeoutMs
})
