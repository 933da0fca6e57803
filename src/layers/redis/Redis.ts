import { Context, Duration, Effect, Layer, Option, Redacted, type Scope } from "effect"
import { Redis as IORedis, type RedisOptions } from "ioredis"
import { AppConfig } from "../config/AppConfig.ts"
import { Health } from "../observability/Health.ts"
import { logReleased } from "../observability/Logging.ts"

/** ioredis' own connection states, reported as-is in health details. */
export type RedisStatus = IORedis["status"]

export interface RedisConnection {
  /** The shared command connection. Never put it into subscriber mode: use `duplicate` for that. */
  readonly client: IORedis
  readonly url: Redacted.Redacted<string>
  /** The options `client` was built with, so other components can open compatible connections. */
  readonly options: RedisOptions
  /**
   * A further connection with the same URL and options, closed with the caller's scope. Pub/sub needs
   * one of its own: a subscribed connection can issue no other command.
   */
  readonly duplicate: (
    name: string,
    overrides?: Partial<RedisOptions>
  ) => Effect.Effect<IORedis, never, Scope.Scope>
  readonly status: Effect.Effect<RedisStatus>
  readonly isReady: Effect.Effect<boolean>
}

export interface RedisService {
  /** None on the embedded default (no REDIS_URL): no connection is ever attempted. */
  readonly connection: Option.Option<RedisConnection>
}

export class Redis extends Context.Service<Redis, RedisService>()("Redis") {}

export interface RedisConnectionOptions {
  /** Longest pause between reconnect attempts; the backoff doubles from 50 ms up to it. */
  readonly maxReconnectDelay?: Duration.Input
  readonly connectTimeout?: Duration.Input
}

/**
 * Commands fail at once while the connection is down (no offline queue) so callers fall back
 * instead of piling up behind a reconnect; a command caught by a disconnect is retried once.
 */
export const redisOptions = (options: RedisConnectionOptions = {}): RedisOptions => {
  const maxDelay = Duration.toMillis(options.maxReconnectDelay ?? Duration.seconds(2))
  return {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: Duration.toMillis(options.connectTimeout ?? Duration.seconds(2)),
    // Never give up: Redis is optional at run time, and it may come back at any moment.
    retryStrategy: (attempt) =>
      Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay) * (0.8 + Math.random() * 0.4)
  }
}

const open = (url: Redacted.Redacted<string>, options: RedisOptions, name: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const client = new IORedis(Redacted.value(url), { ...options, connectionName: name })
      // ioredis emits "error" on every failed reconnect; unhandled, it would crash the process.
      client.on("error", () => {})
      return client
    }),
    (client) =>
      Effect.promise(() =>
        client.status === "ready"
          ? client.quit().catch(() => client.disconnect())
          : Promise.resolve(client.disconnect())
      ).pipe(Effect.timeoutOption(Duration.seconds(2)), Effect.ignore)
  ).pipe(
    // Waits for the first connection, bounded, so a Redis that is up is used from the first call; one
    // that is down must not hold the service back: it keeps reconnecting in the background.
    Effect.tap((client) =>
      Effect.tryPromise(() => client.connect()).pipe(
        Effect.timeoutOption(Duration.millis(options.connectTimeout ?? 2_000)),
        Effect.ignore
      )
    )
  )

/** A connection to `url`, closed with the scope. It connects in the background and reconnects forever. */
export const makeRedisConnection = (
  url: Redacted.Redacted<string>,
  connectionOptions: RedisConnectionOptions = {}
): Effect.Effect<RedisConnection, never, Scope.Scope> =>
  Effect.gen(function* () {
    const options = redisOptions(connectionOptions)
    const client = yield* open(url, options, "focusforge")
    return {
      client,
      url,
      options,
      duplicate: (name, overrides = {}) => open(url, { ...options, ...overrides }, name),
      status: Effect.sync(() => client.status),
      isReady: Effect.sync(() => client.status === "ready")
    } satisfies RedisConnection
  })

const PING_TIMEOUT = Duration.millis(500)

/** Degraded, never unhealthy: every user of Redis has an in-process fallback. */
const registerHealth = (connection: RedisConnection) =>
  Effect.gen(function* () {
    const health = yield* Health
    yield* health.register(
      "redis",
      Effect.gen(function* () {
        const status = yield* connection.status
        if (status !== "ready") {
          return { status: "degraded" as const, message: `redis is ${status}`, details: { state: status } }
        }
        const pong = yield* Effect.tryPromise(() => connection.client.ping()).pipe(
          Effect.timeoutOption(PING_TIMEOUT),
          Effect.map(Option.isSome),
          Effect.orElseSucceed(() => false)
        )
        return pong
          ? { status: "healthy" as const, details: { state: status } }
          : { status: "degraded" as const, message: "redis did not answer PING", details: { state: status } }
      }),
      { critical: false }
    )
  })

/** A Redis service on an explicit URL (tests, tools); registers its health entry. */
export const RedisFromUrl = (url: string, options: RedisConnectionOptions = {}) =>
  Layer.effect(
    Redis,
    Effect.gen(function* () {
      yield* logReleased("redis")
      const connection = yield* makeRedisConnection(Redacted.make(url), options)
      yield* registerHealth(connection)
      return { connection: Option.some(connection) }
    })
  )

/** No Redis at all: the embedded default. */
export const RedisDisabled = Layer.succeed(Redis, { connection: Option.none() })

/** From `REDIS_URL` in AppConfig; without it, no connection is attempted. */
export const RedisLive = Layer.effect(
  Redis,
  Effect.gen(function* () {
    const config = yield* AppConfig
    if (Option.isNone(config.redisUrl)) return { connection: Option.none() }
    // Registered first so that it runs last, once the connection is closed.
    yield* logReleased("redis")
    const connection = yield* makeRedisConnection(config.redisUrl.value)
    yield* registerHealth(connection)
    return { connection: Option.some(connection) }
  })
)
