import { Config, Context, Effect, Layer, Option, Redacted, Result, Schema, SchemaIssue } from "effect"
import { IpNetwork, NetAddress } from "effect/net"
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import { join } from "node:path"
import { createFileOnce } from "./createFileOnce.ts"

export type Mode = "embedded" | "production"
export type AiProviderName = "heuristic" | "openai"

export interface AppConfigShape {
  readonly mode: Mode
  readonly host: string
  readonly port: number
  readonly dataDir: string
  readonly mongodb: Option.Option<{ readonly uri: Redacted.Redacted<string>; readonly database: string }>
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly ai: {
    readonly provider: AiProviderName
    readonly baseUrl: string
    readonly model: string
    readonly embeddingModel: string
    readonly apiKey: Option.Option<Redacted.Redacted<string>>
  }
  readonly jwtSecret: Redacted.Redacted<string>
  readonly otel: {
    readonly endpoint: Option.Option<string>
    readonly serviceName: string
    /** Share of new traces that are sampled; a sampled incoming `traceparent` is always followed. */
    readonly sampleRatio: number
  }
  readonly monitor: MonitorConfig
  readonly http: {
    readonly maxBodyBytes: number
    readonly drainTimeoutMs: number
    /** Sent as `x-instance-id` on every response, so operators can tell instances behind nginx apart. */
    readonly instanceId: string
  }
}

export interface AlertThresholds {
  readonly p95LatencyMs: number
  readonly errorRate: number
  /** Fewer requests than this in the window are too few to judge an endpoint's latency or error rate. */
  readonly minRequests: number
  readonly cpuPercent: number
  readonly memoryPercent: number
  readonly diskPercent: number
  readonly eventLoopLagMs: number
}

export interface MonitorConfig {
  /** Off only for diagnosis and benchmarks: no per-request metrics, no sampler, no alerts. */
  readonly enabled: boolean
  readonly intervalMs: number
  readonly windowMinutes: number
  /**
   * When set, `/metrics` and `/metrics/performance` require `Authorization: Bearer <token>`, and only
   * its holder sees the details of `/health` and `/orchestrator/status`. Required in production.
   */
  readonly token: Option.Option<Redacted.Redacted<string>>
  readonly alerts: AlertThresholds
}

/** Raised at start-up when the environment does not describe a valid configuration. */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>()("InvalidConfig", {
  message: Schema.String
}) {}

export class AppConfig extends Context.Service<AppConfig, AppConfigShape>()("AppConfig") {}

/** A ConfigError at `name` whose message is exactly `message` (formatted by `describeConfigError`). */
export const invalidSetting = (name: string, message: string): Config.ConfigError =>
  new Config.ConfigError(
    new Schema.SchemaError(new SchemaIssue.Pointer([name], new SchemaIssue.InvalidValue({ message })))
  )

/**
 * A setting read as text and parsed by `parse` (undefined: invalid). An invalid value fails with
 * `NAME: <expected> but received "<value>"`, the form README documents; an absent one stays absent, so
 * `Config.withDefault` and `Config.option` apply as usual.
 */
export const parsedSetting = <A>(
  name: string,
  expected: string,
  parse: (raw: string) => A | undefined
): Config.Config<A> =>
  Config.String(name).pipe(
    Config.mapEffect((raw) => {
      const value = parse(raw)
      return value === undefined
        ? Effect.fail(invalidSetting(name, `${expected} but received ${JSON.stringify(raw)}`))
        : Effect.succeed(value)
    })
  )

const parseNumber = (raw: string): number | undefined => {
  const text = raw.trim()
  const value = Number(text)
  return text === "" || !Number.isFinite(value) ? undefined : value
}

/** An integer setting that must pass `validation`; `message` says what is expected ("Expected ..."). */
export const integerSetting = (
  name: string,
  check: { readonly message: string; readonly validation: (n: number) => boolean }
): Config.Config<number> =>
  parsedSetting(name, check.message, (raw) => {
    const value = parseNumber(raw)
    return value !== undefined && Number.isInteger(value) && check.validation(value) ? value : undefined
  })

/** A number setting that must pass `validation`; `message` says what is expected ("Expected ..."). */
export const numberSetting = (
  name: string,
  check: { readonly message: string; readonly validation: (n: number) => boolean }
): Config.Config<number> =>
  parsedSetting(name, check.message, (raw) => {
    const value = parseNumber(raw)
    return value !== undefined && check.validation(value) ? value : undefined
  })

/** One of `literals`, exactly. */
export const literalSetting = <const L extends ReadonlyArray<string>>(
  name: string,
  literals: L
): Config.Config<L[number]> =>
  parsedSetting(name, `Expected one of ${literals.join(", ")}`, (raw) =>
    literals.find((literal) => literal === raw)
  )

const positiveInt = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected a positive integer", validation: (n) => n > 0 }).pipe(
    Config.withDefault(fallback)
  )

const positiveNumber = (name: string, fallback: number) =>
  numberSetting(name, { message: "Expected a positive number", validation: (n) => n > 0 }).pipe(
    Config.withDefault(fallback)
  )

const base = Config.all({
  mode: literalSetting("FF_MODE", ["embedded", "production"]).pipe(Config.withDefault("embedded" as const)),
  host: Config.String("HOST").pipe(Config.withDefault("0.0.0.0")),
  // 0 asks the OS for a free port (tests, side-by-side instances); the log line names the one chosen.
  port: integerSetting("PORT", {
    message: "Expected a port number from 0 to 65535",
    validation: (n) => n >= 0 && n <= 65535
  }).pipe(Config.withDefault(8000)),
  dataDir: Config.String("DATA_DIR").pipe(Config.withDefault("./data")),
  mongodbUri: Config.option(Config.Redacted("MONGODB_URI")),
  mongodbDb: Config.String("MONGODB_DB").pipe(Config.withDefault("focusforge")),
  redisUrl: Config.option(Config.Redacted("REDIS_URL")),
  aiProvider: literalSetting("AI_PROVIDER", ["heuristic", "openai"]).pipe(
    Config.withDefault("heuristic" as const)
  ),
  aiBaseUrl: Config.String("AI_BASE_URL").pipe(Config.withDefault("https://api.openai.com/v1")),
  aiModel: Config.String("AI_MODEL").pipe(Config.withDefault("gpt-4o-mini")),
  aiEmbeddingModel: Config.String("AI_EMBEDDING_MODEL").pipe(Config.withDefault("text-embedding-3-small")),
  aiApiKey: Config.option(Config.Redacted("AI_API_KEY")),
  jwtSecret: Config.option(
    Config.Redacted("JWT_SECRET").pipe(
      // The secret itself is never echoed into the message.
      Config.mapEffect((secret) =>
        Redacted.value(secret).length >= 32
          ? Effect.succeed(secret)
          : Effect.fail(invalidSetting("JWT_SECRET", "Expected at least 32 characters"))
      )
    )
  ),
  otelEndpoint: Config.option(Config.String("OTEL_EXPORTER_OTLP_ENDPOINT")),
  otelServiceName: Config.String("OTEL_SERVICE_NAME").pipe(Config.withDefault("focusforge")),
  otelSampleRatio: numberSetting("OTEL_TRACES_SAMPLER_ARG", {
    message: "Expected a ratio from 0 to 1",
    validation: (n) => n >= 0 && n <= 1
  }).pipe(Config.withDefault(1)),
  monitoring: literalSetting("MONITORING", ["on", "off"]).pipe(Config.withDefault("on" as const)),
  monitorIntervalMs: positiveInt("MONITOR_INTERVAL_MS", 5_000),
  monitorWindowMinutes: positiveInt("MONITOR_WINDOW_MINUTES", 5),
  metricsToken: Config.option(Config.Redacted("METRICS_TOKEN")),
  alertP95LatencyMs: positiveNumber("ALERT_P95_LATENCY_MS", 1_000),
  alertErrorRate: positiveNumber("ALERT_ERROR_RATE", 0.05),
  alertMinRequests: positiveInt("ALERT_MIN_REQUESTS", 20),
  alertCpuPercent: positiveNumber("ALERT_CPU_PERCENT", 90),
  alertMemoryPercent: positiveNumber("ALERT_MEMORY_PERCENT", 90),
  alertDiskPercent: positiveNumber("ALERT_DISK_PERCENT", 90),
  alertEventLoopLagMs: positiveNumber("ALERT_EVENT_LOOP_LAG_MS", 200),
  maxBodyBytes: positiveInt("MAX_BODY_BYTES", 1024 * 1024),
  drainTimeoutMs: positiveInt("SHUTDOWN_DRAIN_MS", 10_000),
  // The pid tells apart instances sharing a host (their traces' `service.instance.id` too).
  instanceId: Config.String("INSTANCE_ID").pipe(Config.withDefault(`${hostname()}-${process.pid}`))
})

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** `NAME: message` for each invalid setting, `; `-separated: the line printed before exiting. */
export const describeConfigError = (error: Config.ConfigError): string => {
  const cause = error.cause
  if (cause._tag === "SourceError") return cause.message
  return formatIssues(cause.issue)
    .issues.map((issue) => {
      const path = (issue.path ?? []).map((segment) => String(segment)).join(".")
      return path === "" ? issue.message : `${path}: ${issue.message}`
    })
    .join("; ")
}

/**
 * In embedded mode the JWT secret is generated once and kept under DATA_DIR so that tokens survive a
 * restart; production must be given one explicitly. Processes starting together on a fresh DATA_DIR all
 * end up with the one secret that was stored (`createFileOnce`). A stored secret too short to be one is
 * refused rather than replaced: replacing it would race the same way, and would silently invalidate the
 * tokens of every process still using it.
 */
const embeddedJwtSecret = (dataDir: string) =>
  Effect.gen(function* () {
    const file = join(dataDir, "jwt-secret")
    const { content } = yield* Effect.try({
      try: () =>
        createFileOnce(file, () => randomBytes(48).toString("base64url"), {
          complete: (stored) => stored.trim().length >= 32
        }),
      catch: (cause) =>
        new InvalidConfig({
          message: `DATA_DIR: cannot keep the JWT secret under ${dataDir}: ${cause instanceof Error ? cause.message : String(cause)}`
        })
    })
    const stored = content.trim()
    if (stored.length < 32) {
      return yield* new InvalidConfig({
        message: `DATA_DIR: ${file} holds ${stored.length} characters, a JWT secret needs at least 32: stop every process using this DATA_DIR and delete the file to have a new one generated, or set JWT_SECRET`
      })
    }
    return Redacted.make(stored)
  })

export const load = Effect.gen(function* () {
  const raw = yield* base.pipe(
    Effect.mapError(
      (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
    )
  )
  const jwtSecret = yield* Option.match(raw.jwtSecret, {
    onSome: Effect.succeed,
    onNone: () =>
      raw.mode === "production"
        ? Effect.fail(
            new InvalidConfig({
              message: "Invalid configuration: JWT_SECRET: required when FF_MODE=production"
            })
          )
        : embeddedJwtSecret(raw.dataDir)
  })
  // Production exposes operator details (metrics, status, health details) only behind this token.
  if (raw.mode === "production" && Option.isNone(raw.metricsToken)) {
    return yield* new InvalidConfig({
      message:
        "Invalid configuration: METRICS_TOKEN: required when FF_MODE=production (the bearer token of /metrics, /metrics/performance and the details of /health and /orchestrator/status)"
    })
  }
  return AppConfig.of({
    mode: raw.mode,
    host: raw.host,
    port: raw.port,
    dataDir: raw.dataDir,
    mongodb: Option.map(raw.mongodbUri, (uri) => ({ uri, database: raw.mongodbDb })),
    redisUrl: raw.redisUrl,
    ai: {
      provider: raw.aiProvider,
      baseUrl: raw.aiBaseUrl,
      model: raw.aiModel,
      embeddingModel: raw.aiEmbeddingModel,
      apiKey: raw.aiApiKey
    },
    jwtSecret,
    otel: { endpoint: raw.otelEndpoint, serviceName: raw.otelServiceName, sampleRatio: raw.otelSampleRatio },
    monitor: {
      enabled: raw.monitoring === "on",
      intervalMs: raw.monitorIntervalMs,
      windowMinutes: raw.monitorWindowMinutes,
      token: raw.metricsToken,
      alerts: {
        p95LatencyMs: raw.alertP95LatencyMs,
        errorRate: raw.alertErrorRate,
        minRequests: raw.alertMinRequests,
        cpuPercent: raw.alertCpuPercent,
        memoryPercent: raw.alertMemoryPercent,
        diskPercent: raw.alertDiskPercent,
        eventLoopLagMs: raw.alertEventLoopLagMs
      }
    },
    http: { maxBodyBytes: raw.maxBodyBytes, drainTimeoutMs: raw.drainTimeoutMs, instanceId: raw.instanceId }
  })
})

export const AppConfigLive = Layer.effect(AppConfig, load)

/** A configuration for tests: embedded defaults, overridable per field. */
export const makeTestConfig = (overrides: Partial<AppConfigShape> = {}): AppConfigShape => ({
  mode: "embedded",
  host: "127.0.0.1",
  port: 0,
  dataDir: "./data",
  mongodb: Option.none(),
  redisUrl: Option.none(),
  ai: {
    provider: "heuristic",
    baseUrl: "http://127.0.0.1:1/v1",
    model: "test-model",
    embeddingModel: "test-embedding",
    apiKey: Option.none()
  },
  jwtSecret: Redacted.make("test-secret-that-is-at-least-32-characters-long"),
  otel: { endpoint: Option.none(), serviceName: "focusforge-test", sampleRatio: 1 },
  monitor: {
    enabled: true,
    intervalMs: 5_000,
    windowMinutes: 5,
    token: Option.none(),
    alerts: {
      p95LatencyMs: 1_000,
      errorRate: 0.05,
      minRequests: 20,
      cpuPercent: 90,
      memoryPercent: 90,
      diskPercent: 90,
      eventLoopLagMs: 200
    }
  },
  http: { maxBodyBytes: 1024 * 1024, drainTimeoutMs: 10_000, instanceId: "test-instance" },
  ...overrides
})

export const AppConfigTest = (overrides: Partial<AppConfigShape> = {}) =>
  Layer.succeed(AppConfig, makeTestConfig(overrides))

// ---------------------------------------------------------------------------------------------
// Login and registration throttle, client address (issue 16). Read by LoginThrottle.ts and the auth
// handlers on their own, so this block stays apart from `AppConfigShape`.

/** Who may say which client a request came from: proxies whose `X-Forwarded-For` is believed. */
export type TrustedProxies = ReadonlyArray<IpNetwork.IpNetwork>

/**
 * `TRUSTED_PROXIES`: comma-separated IP addresses (`172.28.1.10`, `::1`) and CIDR networks
 * (`10.0.0.0/8`); empty trusts nobody. A bare address is its own /32 (/128). Undefined: invalid.
 */
export const parseTrustedProxies = (raw: string): TrustedProxies | undefined => {
  const entries = raw
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
  const networks: Array<IpNetwork.IpNetwork> = []
  for (const entry of entries) {
    const network = entry.includes("/")
      ? IpNetwork.fromString(entry)
      : Result.flatMap(NetAddress.ipFromString(entry), (parsed) => {
          const address = NetAddress.toCanonical(parsed)
          return IpNetwork.fromAddress(address, NetAddress.width(address))
        })
    if (Result.isFailure(network)) return undefined
    networks.push(network.success)
  }
  return networks
}

export const TrustedProxiesConfig: Config.Config<TrustedProxies> = parsedSetting(
  "TRUSTED_PROXIES",
  "Expected comma-separated IP addresses or CIDR networks",
  parseTrustedProxies
).pipe(Config.withDefault<TrustedProxies>([]))

export interface LoginThrottleSettings {
  /** Failures per (email, client address) answered at once; each one after waits longer. */
  readonly freeFailures: number
  /** The wait after the first failure beyond the free ones; it doubles with each further failure. */
  readonly baseDelayMs: number
  readonly maxDelayMs: number
  /** A (email, address) pair's failures are forgotten this long after its last attempt. */
  readonly forgetAfterMs: number
  /** Failures per email across all addresses within `accountWindowMs` before failed addresses wait. */
  readonly accountCeiling: number
  readonly accountWindowMs: number
  /** Registrations per client address within `registrationWindowMs`. */
  readonly registrationsPerAddress: number
  readonly registrationWindowMs: number
  /** Bound of the in-process table (used without Redis and while Redis is down). */
  readonly maxEntries: number
  /** Prefix of every Redis key the throttle writes. */
  readonly prefix: string
}

export const defaultLoginThrottleSettings: LoginThrottleSettings = {
  freeFailures: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 15 * 60_000,
  forgetAfterMs: 24 * 60 * 60_000,
  accountCeiling: 100,
  accountWindowMs: 15 * 60_000,
  registrationsPerAddress: 10,
  registrationWindowMs: 60 * 60_000,
  maxEntries: 100_000,
  prefix: "ff:login:"
}

const throttleInt = (name: string, fallback: number, minimum: number) =>
  integerSetting(name, {
    message: minimum === 0 ? "Expected a non-negative integer" : "Expected a positive integer",
    validation: (n) => n >= minimum
  }).pipe(Config.withDefault(fallback))

export const LoginThrottleConfig: Config.Config<LoginThrottleSettings> = Config.all({
  freeFailures: throttleInt("LOGIN_FREE_FAILURES", defaultLoginThrottleSettings.freeFailures, 0),
  baseDelayMs: throttleInt("LOGIN_BASE_DELAY_MS", defaultLoginThrottleSettings.baseDelayMs, 1),
  maxDelayMs: throttleInt("LOGIN_MAX_DELAY_MS", defaultLoginThrottleSettings.maxDelayMs, 1),
  forgetAfterMs: throttleInt("LOGIN_FORGET_AFTER_MS", defaultLoginThrottleSettings.forgetAfterMs, 1),
  accountCeiling: throttleInt("LOGIN_ACCOUNT_CEILING", defaultLoginThrottleSettings.accountCeiling, 1),
  accountWindowMs: throttleInt("LOGIN_ACCOUNT_WINDOW_MS", defaultLoginThrottleSettings.accountWindowMs, 1),
  registrationsPerAddress: throttleInt(
    "REGISTER_MAX_PER_ADDRESS",
    defaultLoginThrottleSettings.registrationsPerAddress,
    1
  ),
  registrationWindowMs: throttleInt(
    "REGISTER_WINDOW_MS",
    defaultLoginThrottleSettings.registrationWindowMs,
    1
  ),
  maxEntries: throttleInt("LOGIN_THROTTLE_MAX_ENTRIES", defaultLoginThrottleSettings.maxEntries, 1),
  prefix: Config.String("LOGIN_THROTTLE_PREFIX").pipe(Config.withDefault(defaultLoginThrottleSettings.prefix))
})

// ---------------------------------------------------------------------------------------------
// Bounds: what one client can make one process hold (live actors, open tasks, connections). Each is
// read by the component it bounds, so the settings stay one self-contained block; README, "Limits".

/** Socket-level limits of the HTTP server (`src/http/NodeAdapter.ts` applies them). */
export interface ConnectionLimits {
  /** Open connections at most (`server.maxConnections`); Node closes any beyond at once. */
  readonly maxConnections: number
  /** Open connections at most from one peer address; 0 turns the cap off. Beyond: 503 and closed. */
  readonly maxPerAddress: number
  /** Time to receive a request's headers (slowloris); Node answers 408 and closes. */
  readonly headersTimeoutMs: number
  /** Time to receive a whole request, headers and body; Node answers 408 and closes. */
  readonly requestTimeoutMs: number
  /** Header lines per request at most; Node answers 431 beyond. */
  readonly maxHeadersCount: number
  /** Bytes of request line and headers at most; Node answers 431 beyond. */
  readonly maxHeaderBytes: number
}

export const defaultConnectionLimits: ConnectionLimits = {
  maxConnections: 8192,
  maxPerAddress: 256,
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 60_000,
  maxHeadersCount: 100,
  maxHeaderBytes: 16 * 1024
}

const nonNegativeInt = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected a non-negative integer", validation: (n) => n >= 0 }).pipe(
    Config.withDefault(fallback)
  )

/** Live entity actors per process (`ACTORS_MAX`); the least recently used idle ones make room. */
export const ActorsMaxConfig: Config.Config<number> = positiveInt("ACTORS_MAX", 10_000)

/** Open (not completed, not deleted) tasks per user (`MAX_OPEN_TASKS`). */
export const MaxOpenTasksConfig: Config.Config<number> = positiveInt("MAX_OPEN_TASKS", 200)

export const ConnectionLimitsConfig: Config.Config<ConnectionLimits> = Config.all({
  maxConnections: positiveInt("MAX_CONNECTIONS", defaultConnectionLimits.maxConnections),
  maxPerAddress: nonNegativeInt("MAX_CONNECTIONS_PER_ADDRESS", defaultConnectionLimits.maxPerAddress),
  headersTimeoutMs: positiveInt("HTTP_HEADERS_TIMEOUT_MS", defaultConnectionLimits.headersTimeoutMs),
  requestTimeoutMs: positiveInt("HTTP_REQUEST_TIMEOUT_MS", defaultConnectionLimits.requestTimeoutMs),
  maxHeadersCount: positiveInt("HTTP_MAX_HEADERS", defaultConnectionLimits.maxHeadersCount),
  maxHeaderBytes: positiveInt("HTTP_MAX_HEADER_BYTES", defaultConnectionLimits.maxHeaderBytes)
}).pipe(
  // Node refuses a headers timeout longer than the request timeout; say so in the config's own words.
  Config.mapEffect((limits) =>
    limits.headersTimeoutMs <= limits.requestTimeoutMs
      ? Effect.succeed(limits)
      : Effect.fail(invalidSetting("HTTP_HEADERS_TIMEOUT_MS", "Expected at most HTTP_REQUEST_TIMEOUT_MS"))
  )
)

/** Reads one of the settings above, failing start-up with the same one-line message as `load`. */
export const readSetting = <A>(config: Config.Config<A>): Effect.Effect<A, InvalidConfig> =>
  config.pipe(
    Effect.mapError(
      (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
    )
  )
