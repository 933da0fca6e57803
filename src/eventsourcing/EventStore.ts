import { Context, type Effect, type Option, Schema, type Stream } from "effect"

/**
 * What an append expects of its stream before it writes: `"any"` (no check), `"noStream"` (the stream
 * has no event yet) or the exact version of its last event. Versions start at 1; an empty stream is
 * at version 0, so `"noStream"` and `0` mean the same thing.
 */
export const ExpectedVersion = Schema.Union([Schema.Literals(["any", "noStream"]), Schema.Natural])
export type ExpectedVersion = typeof ExpectedVersion.Type

export const EventMetadata = Schema.Struct({
  correlationId: Schema.optional(Schema.String),
  causationId: Schema.optional(Schema.String),
  /** ISO-8601 instant at which the command that caused the event was handled. */
  timestamp: Schema.String
})
export type EventMetadata = typeof EventMetadata.Type

/** An event as a writer hands it to the store: the store gives it a version and a position. */
export interface NewEvent {
  readonly eventId: string
  readonly type: string
  /** Any JSON value. */
  readonly data: unknown
  readonly metadata: EventMetadata
}

export interface StoredEvent extends NewEvent {
  readonly streamId: string
  /** 1-based, without gaps, within the stream. */
  readonly version: number
  /** 1-based, strictly increasing across all streams in commit order: the catch-up checkpoint. */
  readonly position: number
}

export interface AppendResult {
  readonly streamId: string
  /** The version of the stream's last event after the append (0 for an empty append to a new stream). */
  readonly version: number
  /** The events of this batch as stored (empty when the batch was empty). */
  readonly events: ReadonlyArray<StoredEvent>
  /** True when every event id was already stored at these positions: nothing was written. */
  readonly duplicate: boolean
}

export interface Snapshot {
  readonly streamId: string
  /** The version of the last event folded into `state`. */
  readonly version: number
  /** Any JSON value. */
  readonly state: unknown
}

/** The stream was not at the version the append expected: nothing of the batch was written. */
export class VersionConflict extends Schema.TaggedError<VersionConflict>()("VersionConflict", {
  streamId: Schema.String,
  expected: ExpectedVersion,
  actual: Schema.Natural
}) {
  override get message(): string {
    return `stream ${this.streamId} is at version ${this.actual}, expected ${this.expected}`
  }
}

/**
 * The store could not do what it was asked (unreachable, busy beyond its timeout, an event id reused
 * for another position). The outcome of a failed append is unknown to the caller only for the first
 * reason; retrying with the same event ids is always safe.
 */
export class EventStoreError extends Schema.TaggedError<EventStoreError>()("EventStoreError", {
  operation: Schema.String,
  message: Schema.String,
  /**
   * `"timeout"`: the store did not answer within its bound (MongoDB: `MONGODB_OPERATION_TIMEOUT_MS`).
   * Retryable by the client (HTTP answers 503 with `Retry-After`); an append's outcome is unknown.
   */
  reason: Schema.optional(Schema.Literal("timeout"))
}) {}

/** A store that ran out of time: worth retrying later, unlike a store that refused the request. */
export const isStoreTimeout = (error: unknown): error is EventStoreError =>
  error instanceof EventStoreError && error.reason === "timeout"

export interface ReadOptions {
  /** First version to return (inclusive); 1 when omitted. */
  readonly fromVersion?: number
}

export interface ReadAllOptions {
  /** First global position to return (inclusive); 1 when omitted. A checkpoint `p` resumes at `p + 1`. */
  readonly fromPosition?: number
  /**
   * Only events of streams whose id starts with one of these (all streams when omitted): what a
   * subscription folds, filtered by the database, so the rest of the log is never decoded.
   */
  readonly streamPrefixes?: ReadonlyArray<string>
}

export interface EventStoreShape {
  /** Which implementation this is, for health reports and logs. */
  readonly kind: "sqlite" | "mongodb"
  /**
   * Appends the whole batch or nothing. Re-sending a batch whose event ids are already stored, in
   * order, at consecutive versions of this stream returns the stored result and writes nothing.
   */
  readonly append: (
    streamId: string,
    expectedVersion: ExpectedVersion,
    events: ReadonlyArray<NewEvent>
  ) => Effect.Effect<AppendResult, VersionConflict | EventStoreError>
  /** The stream's events in version order, read page by page. */
  readonly read: (streamId: string, options?: ReadOptions) => Stream.Stream<StoredEvent, EventStoreError>
  /**
   * One page of the stream from `fromVersion` on, in version order: at most `READ_PAGE_SIZE` events, so a
   * full page means there may be more. What an actor catches up with on every read; a plain effect, as
   * running a `Stream` costs more than the query itself.
   */
  readonly readPage: (
    streamId: string,
    fromVersion: number
  ) => Effect.Effect<ReadonlyArray<StoredEvent>, EventStoreError>
  /** Every event of every stream in global position order, read page by page. */
  readonly readAll: (options?: ReadAllOptions) => Stream.Stream<StoredEvent, EventStoreError>
  /** Keeps the latest snapshot of a stream; an older one than the stored one is ignored. */
  readonly saveSnapshot: (snapshot: Snapshot) => Effect.Effect<void, EventStoreError>
  readonly loadSnapshot: (streamId: string) => Effect.Effect<Option.Option<Snapshot>, EventStoreError>
  /** The global position of the last committed event (0 for an empty store): where catch-up ends. */
  readonly head: Effect.Effect<number, EventStoreError>
  /** A cheap round trip to the underlying database, for `/health`. */
  readonly ping: Effect.Effect<void, EventStoreError>
}

export class EventStore extends Context.Service<EventStore, EventStoreShape>()("EventStore") {}

/** The version an append must find the stream at, or undefined when any version will do. */
export const requiredVersion = (expected: ExpectedVersion): number | undefined =>
  expected === "any" ? undefined : expected === "noStream" ? 0 : expected

/** Page size of `read` and `readAll`: large enough to amortise round trips, small enough to stay lean. */
export const READ_PAGE_SIZE = 1000
