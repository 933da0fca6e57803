import { Config, Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { type Db, MongoClient, type MongoClientOptions } from "mongodb"
import { AppConfig, describeConfigError, integerSetting } from "./AppConfig.ts"
import { Health } from "./Health.ts"
import { logReleased } from "./Logging.ts"

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

const setting = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected a non-negative integer", validation: (n) => n >= 0 }).pipe(
    Config.withDefault(fallback)
  )

export const PoolSettingsConfig: Config.Config<PoolSettings> = Config.all({
  maxPoolSize: setting("MONGODB_MAX_POOL_SIZE", defaultPoolSettings.maxPoolSize),
  minPoolSize: setting("MONGODB_MIN_POOL_SIZE", defaultPoolSettings.minPoolSize),
  maxIdleTimeMS: setting("MONGODB_MAX_IDLE_TIME_MS", defaultPoolSettings.maxIdleTimeMS),
  serverSelectionTimeoutMS: setting(
    "MONGODB_SERVER_SELECTION_TIMEOUT_MS",
    defaultPoolSettings.serverSelectionTimeoutMS
  )
})

/**
 * Writes are acknowledged by a majority so that an acknowledged event survives a primary fail-over;
 * retryWrites lets the driver re-send a write once after a transient network error or election.
 */
export const clientOptions = (settings: PoolSettings): MongoClientOptions => ({
  ...settings,
  retryWrites: true,
  writeConcern: { w: "majority" },
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
    const settings = yield* PoolSettingsConfig.pipe(
      Effect.mapError(
        (error) => new DatabaseError({ message: `Invalid pool configuration: ${describeConfigError(error)}` })
      )
    )
    yield* logReleased("mongodb")
    const client = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => new MongoClient(Redacted.value(mongodb.uri), clientOptions(settings)).connect(),
        catch: (cause) => new DatabaseError({ message: `cannot connect to MongoDB: ${describe(cause)}` })
      }),
      (client) => Effect.promise(() => client.close())
    )
    const db: Db = client.db(mongodb.database)
    const ping = Effect.tryPromise({
      try: () => db.command({ ping: 1 }),
      catch: (cause) => new DatabaseError({ message: describe(cause) })
    }).pipe(Effect.asVoid)
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
    return { client, db, ping } as const
  })
}) {
  /** Needs AppConfig and Health (as `Database.Default` did). */
  static readonly layer = Layer.effect(this, this.make)
}
