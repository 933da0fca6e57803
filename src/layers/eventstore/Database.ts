import { Config, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { type Db, MongoClient, type MongoClientOptions } from "mongodb"
import { AppConfig, describeConfigError, integerSetting, invalidSetting } from "../config/AppConfig.ts"
import { Health } from "../observability/Health.ts"
import { logReleased } from "../observability/Logging.ts"

/** The pool of the seed, each setting overridable from the environment. */
export interface PoolSettings {
  readonly maxPoolSize: number
  readonly minPoolSize: number
  readonly maxIdleTimeMS: number
  readonly serverSelectionTimeoutMS: number
}

export const defaultPoolSettings: PoolSettings = {
  maxPoolSize: 50,
  minPoolSize: 10,
  maxIdleTimeMS: 30_000,
  serverSelectionTimeoutMS: 5_000
}

const setting = (name: string, fallback: number, minimum: number) =>
  integerSetting(name, {
    message: minimum === 0 ? "Expected a non-negative integer" : "Expected a positive integer",
    validation: (n) => n >= minimum
  }).pipe(Config.withDefault(fallback))

/**
 * `MONGODB_MAX_POOL_SIZE` is at least 1: the driver reads 0 as "unbounded", which under a burst opens
 * a connection per waiting operation until the server's connection limit refuses them all. A minimum
 * above the maximum is refused rather than silently clamped by the driver.
 */
export const PoolSettingsConfig: Config.Config<PoolSettings> = Config.all({
  maxPoolSize: setting("MONGODB_MAX_POOL_SIZE", defaultPoolSettings.maxPoolSize, 1),
  minPoolSize: setting("MONGODB_MIN_POOL_SIZE", defaultPoolSettings.minPoolSize, 0),
  maxIdleTimeMS: setting("MONGODB_MAX_IDLE_TIME_MS", defaultPoolSettings.maxIdleTimeMS, 0),
  serverSelectionTimeoutMS: setting(
    "MONGODB_SERVER_SELECTION_TIMEOUT_MS",
    defaultPoolSettings.serverSelectionTimeoutMS,
    1
  )
}).pipe(
  Config.mapEffect((settings) =>
    settings.minPoolSize <= settings.maxPoolSize
      ? Effect.succeed(settings)
      : Effect.fail(
          invalidSetting(
            "MONGODB_MIN_POOL_SIZE",
            `Expected at most MONGODB_MAX_POOL_SIZE (${settings.maxPoolSize}) but received ${settings.minPoolSize}`
          )
        )
  )
)

/** A few seconds: long enough for a majority commit across the replica set, short enough for a request. */
export const DEFAULT_OPERATION_TIMEOUT_MS = 5_000

/**
 * `MONGODB_OPERATION_TIMEOUT_MS`: the bound on every event-store call, server side (`maxTimeMS`,
 * `wtimeoutMS`, `maxCommitTimeMS`) and client side (a deadline on the caller's wait). At most 120 s, the
 * driver's own transaction retry budget, which a larger bound would silently not extend.
 */
export const OperationTimeoutConfig: Config.Config<number> = integerSetting("MONGODB_OPERATION_TIMEOUT_MS", {
  message: "Expected an integer from 1 to 120000 (milliseconds)",
  validation: (n) => n >= 1 && n <= 120_000
}).pipe(Config.withDefault(DEFAULT_OPERATION_TIMEOUT_MS))

/**
 * Writes are acknowledged by a majority so that an acknowledged event survives a primary fail-over,
 * within `operationTimeoutMs` (a majority that cannot be reached fails the write instead of hanging);
 * retryWrites lets the driver re-send a write once after a transient network error or election.
 */
export const clientOptions = (
  settings: PoolSettings,
  operationTimeoutMs: number = DEFAULT_OPERATION_TIMEOUT_MS
): MongoClientOptions => ({
  ...settings,
  retryWrites: true,
  writeConcern: { w: "majority", wtimeoutMS: operationTimeoutMs },
  appName: "focusforge"
})

export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  message: Schema.String
}) {}

const describe = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * One MongoClient (and so one connection pool) per process, connected at start-up and closed when
 * the layer is released. Needs MONGODB_URI; MONGODB_DB names the database.
 */
export class Database extends Context.Service<Database>()("Database", {
  make: Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const mongodb = yield* Option.match(config.mongodb, {
      onNone: () => Effect.fail(new DatabaseError({ message: "MONGODB_URI is not set" })),
      onSome: Effect.succeed
    })
    const { settings, operationTimeoutMs } = yield* Config.all({
      settings: PoolSettingsConfig,
      operationTimeoutMs: OperationTimeoutConfig
    }).pipe(
      Effect.mapError(
        (error) => new DatabaseError({ message: `Invalid configuration: ${describeConfigError(error)}` })
      )
    )
    yield* logReleased("mongodb")
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () =>
          new MongoClient(Redacted.value(mongodb.uri), clientOptions(settings, operationTimeoutMs)).connect(),
        catch: (cause) => new DatabaseError({ message: `cannot connect to MongoDB: ${describe(cause)}` })
      }),
      (client) => Effect.promise(() => client.close())
    )
    const db: Db = client.db(mongodb.database)
    // Bounded like every store call: a health probe that hangs would hold /health/ready with it.
    const ping = Effect.tryPromise({
      try: () => db.command({ ping: 1, maxTimeMS: operationTimeoutMs }),
      catch: (cause) => new DatabaseError({ message: describe(cause) })
    }).pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(operationTimeoutMs),
        orElse: () =>
          Effect.fail(new DatabaseError({ message: `ping: no answer within ${operationTimeoutMs} ms` }))
      }),
      Effect.asVoid
    )
    yield* health.register(
      "database",
      ping.pipe(
        Effect.as({
          status: "healthy" as const,
          details: { kind: "mongodb", database: mongodb.database, max_pool_size: settings.maxPoolSize }
        }),
        Effect.catch((error) => Effect.succeed({ status: "unhealthy" as const, message: error.message }))
      ),
      { critical: true }
    )
    return { client, db, ping, operationTimeoutMs } as const
  })
}) {
  /** Needs AppConfig and Health (as `Database.Default` did). */
  static readonly layer = Layer.effect(this, this.make)
}
