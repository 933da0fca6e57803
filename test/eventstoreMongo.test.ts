import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, type Config, Effect, Fiber, Result } from "effect"
import { TestClock } from "effect/testing"
import { MongoClient, MongoError, MongoServerError, WriteConcern } from "mongodb"
import { describeConfigError } from "../src/layers/config/AppConfig.ts"
import {
  clientOptions,
  DEFAULT_OPERATION_TIMEOUT_MS,
  defaultPoolSettings,
  OperationTimeoutConfig,
  PoolSettingsConfig
} from "../src/layers/eventstore/Database.ts"
import { isStoreTimeout } from "../src/eventsourcing/EventStore.ts"
import {
  appendTransactionOptions,
  COLLECTIONS,
  callWithin,
  classifyAppendFailure,
  DeadlineExceeded,
  duplicateKeyOf,
  EVENT_INDEXES,
  fromDocument,
  isTimeout,
  runTransaction,
  toDocument,
  toStoreError
} from "../src/layers/eventstore/EventStoreMongo.ts"

// These run without a server: the pure parts of the MongoDB store, its configuration, its deadlines.

/**
 * A duplicate-key error as the server reports it (a write error with `keyPattern`/`keyValue`, which
 * the driver copies onto `MongoServerError`). The message names a different index on purpose: only
 * `keyPattern` may decide.
 */
const duplicateKey = (keyPattern: Record<string, 1> | undefined, code = 11000) =>
  new MongoServerError({
    message: "E11000 duplicate key error collection: focusforge.misleading index: streamId_version dup key",
    code,
    ...(keyPattern
      ? { keyPattern, keyValue: Object.fromEntries(Object.keys(keyPattern).map((k) => [k, "x"])) }
      : {})
  })

const transient = () => {
  const error = new MongoError("WriteConflict")
  error.addErrorLabel("TransientTransactionError")
  return error
}

const read = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  Effect.result(
    config.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env)))
  )

const failureText = <A>(result: Result.Result<A, Config.ConfigError>) =>
  Result.isFailure(result) ? describeConfigError(result.failure) : "accepted"

describe("EventStoreMongo (pure parts)", () => {
  it("maps an event to its document and back without loss", () => {
    const event = {
      eventId: "e-1",
      type: "Incremented",
      data: { _tag: "Incremented", by: 2, nested: { list: [1, 2] } },
      metadata: { correlationId: "c", causationId: "k", timestamp: "2025-01-01T00:00:00.000Z" }
    }
    const doc = toDocument("counter-1", event, 7, 42)
    expect(doc).toEqual({
      _id: "e-1",
      streamId: "counter-1",
      version: 7,
      position: 42,
      type: "Incremented",
      data: event.data,
      metadata: event.metadata
    })
    expect(fromDocument(doc)).toEqual({ ...event, streamId: "counter-1", version: 7, position: 42 })
  })

  it("tells which unique index a duplicate key hit from keyPattern and the collection written, not the message", () => {
    expect(duplicateKeyOf(duplicateKey({ _id: 1 }), COLLECTIONS.streams)).toBe("stream-head")
    expect(duplicateKeyOf(duplicateKey({ _id: 1 }), COLLECTIONS.events)).toBe("event-id")
    expect(duplicateKeyOf(duplicateKey({ streamId: 1, version: 1 }), COLLECTIONS.events)).toBe(
      "stream-version"
    )
    expect(duplicateKeyOf(duplicateKey({ position: 1 }), COLLECTIONS.events)).toBe("other")
    expect(duplicateKeyOf(duplicateKey({ _id: 1 }), COLLECTIONS.snapshots)).toBe("snapshot")
    // 11001 is the older code of the same error.
    expect(duplicateKeyOf(duplicateKey({ _id: 1 }, 11001), COLLECTIONS.events)).toBe("event-id")
    // No keyPattern (a server before 4.4): never guessed from the message.
    expect(duplicateKeyOf(duplicateKey(undefined), COLLECTIONS.events)).toBe("other")
    // A plain object shaped like the server's answer is read the same way.
    expect(duplicateKeyOf({ code: 11000, keyPattern: { streamId: 1, version: 1 } }, COLLECTIONS.events)).toBe(
      "stream-version"
    )
    expect(
      duplicateKeyOf(new MongoServerError({ message: "not primary", code: 10107 }), COLLECTIONS.events)
    ).toBe(undefined)
    expect(duplicateKeyOf(new Error("E11000 in a plain error"), COLLECTIONS.events)).toBeUndefined()
  })

  it("classifies an append's failure: timeouts (server limits, write concern, our deadline) apart from other errors", () => {
    expect(
      classifyAppendFailure(new MongoServerError({ message: "operation exceeded time limit", code: 50 }))
    ).toBe("timeout")
    expect(
      classifyAppendFailure(
        new MongoServerError({
          message: "waiting for replication timed out",
          code: 64,
          errInfo: { wtimeout: true }
        })
      )
    ).toBe("timeout")
    expect(classifyAppendFailure({ ok: 1, writeConcernError: { code: 64, errmsg: "wtimeout" } })).toBe(
      "timeout"
    )
    expect(classifyAppendFailure(new DeadlineExceeded("no answer"))).toBe("timeout")
    expect(classifyAppendFailure(new MongoServerError({ message: "boom", code: 1 }))).toEqual({
      message: "boom"
    })
    expect(isTimeout(duplicateKey({ _id: 1 }))).toBe(false)
  })

  it("marks a timeout as a retryable EventStoreError and anything else as a plain one", () => {
    const timedOut = toStoreError("append", 2_000)(new DeadlineExceeded("no answer within 2000 ms"))
    expect(timedOut.reason).toBe("timeout")
    expect(timedOut.message).toContain("MONGODB_OPERATION_TIMEOUT_MS")
    expect(isStoreTimeout(timedOut)).toBe(true)
    const refused = toStoreError(
      "append",
      2_000
    )(new MongoServerError({ message: "not authorized", code: 13 }))
    expect(refused.reason).toBeUndefined()
    expect(isStoreTimeout(refused)).toBe(false)
  })

  it.effect("bounds the caller's wait on a driver call that never answers, and aborts its signal", () =>
    Effect.gen(function* () {
      let signal: AbortSignal | undefined
      const fiber = yield* callWithin(2_000, (s) => {
        signal = s
        return new Promise<never>(() => {})
      }).pipe(Effect.mapError(toStoreError("read", 2_000)), Effect.result, Effect.forkChild)
      yield* TestClock.adjust("1999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      expect(Result.isFailure(result) && result.failure.reason).toBe("timeout")
      expect(Result.isFailure(result) && result.failure.operation).toBe("read")
      expect(signal?.aborted).toBe(true)
    })
  )

  it("bounds the transaction retry loop by its deadline, not the driver's 120 s", async () => {
    const client = new MongoClient("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1")
    const session = client.startSession()
    try {
      let attempts = 0
      // Always a write conflict on the counter: withTransaction would retry for 120 s.
      const run = runTransaction(
        session,
        {
          signal: new AbortController().signal,
          deadlineAt: Date.now() + 200,
          transaction: appendTransactionOptions(200)
        },
        async () => {
          attempts++
          throw transient()
        }
      )
      await expect(run).rejects.toBeInstanceOf(DeadlineExceeded)
      expect(attempts).toBeGreaterThan(1)
    } finally {
      await session.endSession()
      await client.close()
    }
  })

  it("starts no further attempt once the caller's deadline aborted the signal, and says it ran out of time", async () => {
    const client = new MongoClient("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1")
    const session = client.startSession()
    try {
      const controller = new AbortController()
      let attempts = 0
      const run = runTransaction(
        session,
        {
          signal: controller.signal,
          deadlineAt: Date.now() + 60_000,
          transaction: appendTransactionOptions(60_000)
        },
        async () => {
          attempts++
          controller.abort()
          throw transient()
        }
      )
      // Out of time, not the write conflict that happened to come last: a timeout for the caller.
      await expect(run).rejects.toBeInstanceOf(DeadlineExceeded)
      expect(attempts).toBe(1)
    } finally {
      await session.endSession()
      await client.close()
    }
  })

  it("rethrows a body's non-retryable error at once, as is", async () => {
    const client = new MongoClient("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1")
    const session = client.startSession()
    try {
      let attempts = 0
      const refused = new MongoServerError({ message: "not authorized", code: 13 })
      const run = runTransaction(
        session,
        {
          signal: new AbortController().signal,
          deadlineAt: Date.now() + 60_000,
          transaction: appendTransactionOptions(60_000)
        },
        async () => {
          attempts++
          throw refused
        }
      )
      await expect(run).rejects.toBe(refused)
      expect(attempts).toBe(1)
    } finally {
      await session.endSession()
      await client.close()
    }
  })

  it("bounds each append transaction: majority within wtimeoutMS, commit within maxCommitTimeMS", () => {
    const options = appendTransactionOptions(3_000)
    expect(options.maxCommitTimeMS).toBe(3_000)
    expect(options.writeConcern).toBeInstanceOf(WriteConcern)
    expect(options.writeConcern).toMatchObject({ w: "majority", wtimeoutMS: 3_000 })
    expect(options.readConcern).toEqual({ level: "snapshot" })
  })

  it("declares unique indexes on (streamId, version) and on position", () => {
    expect(EVENT_INDEXES).toEqual([
      { name: "streamId_version", key: { streamId: 1, version: 1 }, unique: true },
      { name: "position", key: { position: 1 }, unique: true }
    ])
  })

  it("uses the seed's pool settings with majority writes bounded by the operation timeout", () => {
    expect(clientOptions(defaultPoolSettings)).toMatchObject({
      maxPoolSize: 50,
      minPoolSize: 10,
      maxIdleTimeMS: 30_000,
      serverSelectionTimeoutMS: 5_000,
      retryWrites: true,
      writeConcern: { w: "majority", wtimeoutMS: DEFAULT_OPERATION_TIMEOUT_MS }
    })
    expect(clientOptions(defaultPoolSettings, 1_500).writeConcern).toEqual({
      w: "majority",
      wtimeoutMS: 1_500
    })
  })
})

describe("MongoDB settings", () => {
  it.effect("refuses an unbounded pool (max 0) and a minimum above the maximum, naming the variables", () =>
    Effect.gen(function* () {
      expect(failureText(yield* read(PoolSettingsConfig, { MONGODB_MAX_POOL_SIZE: "0" }))).toBe(
        'MONGODB_MAX_POOL_SIZE: Expected a positive integer but received "0"'
      )
      expect(
        failureText(
          yield* read(PoolSettingsConfig, { MONGODB_MAX_POOL_SIZE: "5", MONGODB_MIN_POOL_SIZE: "6" })
        )
      ).toBe("MONGODB_MIN_POOL_SIZE: Expected at most MONGODB_MAX_POOL_SIZE (5) but received 6")
      // The default minimum (10) is above a smaller maximum too: the operator is told, not clamped.
      expect(failureText(yield* read(PoolSettingsConfig, { MONGODB_MAX_POOL_SIZE: "4" }))).toBe(
        "MONGODB_MIN_POOL_SIZE: Expected at most MONGODB_MAX_POOL_SIZE (4) but received 10"
      )
      const equal = yield* read(PoolSettingsConfig, {
        MONGODB_MAX_POOL_SIZE: "5",
        MONGODB_MIN_POOL_SIZE: "5"
      })
      expect(Result.isSuccess(equal) && equal.success).toMatchObject({ maxPoolSize: 5, minPoolSize: 5 })
      const defaults = yield* read(PoolSettingsConfig, {})
      expect(Result.isSuccess(defaults) && defaults.success).toEqual(defaultPoolSettings)
    })
  )

  it.effect("MONGODB_OPERATION_TIMEOUT_MS: a few seconds by default, a positive bound up to 120 s", () =>
    Effect.gen(function* () {
      const defaults = yield* read(OperationTimeoutConfig, {})
      expect(Result.isSuccess(defaults) && defaults.success).toBe(DEFAULT_OPERATION_TIMEOUT_MS)
      expect(DEFAULT_OPERATION_TIMEOUT_MS).toBeGreaterThanOrEqual(1_000)
      expect(DEFAULT_OPERATION_TIMEOUT_MS).toBeLessThanOrEqual(10_000)
      const set = yield* read(OperationTimeoutConfig, { MONGODB_OPERATION_TIMEOUT_MS: "2500" })
      expect(Result.isSuccess(set) && set.success).toBe(2_500)
      for (const bad of ["0", "-1", "1.5", "soon", "120001"]) {
        expect(
          failureText(yield* read(OperationTimeoutConfig, { MONGODB_OPERATION_TIMEOUT_MS: bad })),
          bad
        ).toBe(
          `MONGODB_OPERATION_TIMEOUT_MS: Expected an integer from 1 to 120000 (milliseconds) but received ${JSON.stringify(bad)}`
        )
      }
    })
  )
})
