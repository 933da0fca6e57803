import { Config, Effect, Option } from "effect"
import { describeConfigError, InvalidConfig, integerSetting, numberSetting } from "../config/AppConfig.ts"
import type { BulkheadConfig } from "./Bulkhead.ts"
import type { CircuitBreakerConfig } from "./CircuitBreaker.ts"
import { type RateLimitConfig, validateRateLimit } from "./RateLimit.ts"
import type { RetryConfig } from "./RetryPolicy.ts"

export interface AiOptimizerConfig {
  readonly breaker: CircuitBreakerConfig
  readonly rateLimit: RateLimitConfig
  readonly bulkhead: BulkheadConfig
  readonly retry: RetryConfig
  readonly attemptTimeoutMillis: number
  /** For one `execute`, all attempts and waits included. */
  readonly deadlineMillis: number
}

/** The seed's numbers: 5 failures open the breaker for 5 minutes, 10 calls a minute, 3 at once. */
export const defaultAiOptimizerConfig: AiOptimizerConfig = {
  breaker: {
    consecutiveFailures: 5,
    openMillis: 5 * 60_000,
    halfOpenProbes: 1,
    probeTimeoutMillis: 30_000,
    failureRate: Option.none()
  },
  rateLimit: { limit: 10, windowMillis: 60_000, burst: 3, maxWaitMillis: 15_000 },
  bulkhead: { maxConcurrent: 3, maxQueue: 20 },
  retry: { maxRetries: 3, baseDelayMillis: 500, maxDelayMillis: 10_000 },
  attemptTimeoutMillis: 30_000,
  deadlineMillis: 60_000
}

const positive = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected a positive integer", validation: (n) => n > 0 }).pipe(
    Config.withDefault(fallback)
  )

const nonNegative = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected an integer ≥ 0", validation: (n) => n >= 0 }).pipe(
    Config.withDefault(fallback)
  )

const d = defaultAiOptimizerConfig

const fromEnv = Config.all({
  rateLimit: positive("AI_RATE_LIMIT", d.rateLimit.limit),
  rateWindow: positive("AI_RATE_WINDOW_MS", d.rateLimit.windowMillis),
  rateBurst: positive("AI_RATE_BURST", d.rateLimit.burst),
  rateMaxWait: nonNegative("AI_RATE_MAX_WAIT_MS", d.rateLimit.maxWaitMillis),
  maxConcurrent: positive("AI_MAX_CONCURRENT", d.bulkhead.maxConcurrent),
  maxQueue: nonNegative("AI_MAX_QUEUE", d.bulkhead.maxQueue),
  breakerFailures: positive("AI_BREAKER_FAILURES", d.breaker.consecutiveFailures),
  breakerOpen: positive("AI_BREAKER_OPEN_MS", d.breaker.openMillis),
  breakerProbes: positive("AI_BREAKER_PROBES", d.breaker.halfOpenProbes),
  failureRate: Config.option(
    numberSetting("AI_BREAKER_FAILURE_RATE", {
      message: "Expected a ratio in (0, 1]",
      validation: (r) => r > 0 && r <= 1
    })
  ),
  failureRateWindow: positive("AI_BREAKER_RATE_WINDOW_MS", 60_000),
  failureRateMinCalls: positive("AI_BREAKER_MIN_CALLS", 10),
  maxRetries: nonNegative("AI_MAX_RETRIES", d.retry.maxRetries),
  retryBase: positive("AI_RETRY_BASE_MS", d.retry.baseDelayMillis),
  retryMax: positive("AI_RETRY_MAX_MS", d.retry.maxDelayMillis),
  attemptTimeout: positive("AI_ATTEMPT_TIMEOUT_MS", d.attemptTimeoutMillis),
  deadline: positive("AI_DEADLINE_MS", d.deadlineMillis)
})

export const loadAiOptimizerConfig: Effect.Effect<AiOptimizerConfig, InvalidConfig> = Effect.gen(
  function* () {
    const raw = yield* fromEnv.pipe(
      Effect.mapError(
        (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
      )
    )
    const config: AiOptimizerConfig = {
      breaker: {
        consecutiveFailures: raw.breakerFailures,
        openMillis: raw.breakerOpen,
        halfOpenProbes: raw.breakerProbes,
        probeTimeoutMillis: raw.attemptTimeout,
        failureRate: Option.map(raw.failureRate, (ratio) => ({
          ratio,
          windowMillis: raw.failureRateWindow,
          minThroughput: raw.failureRateMinCalls
        }))
      },
      rateLimit: {
        limit: raw.rateLimit,
        windowMillis: raw.rateWindow,
        burst: raw.rateBurst,
        maxWaitMillis: raw.rateMaxWait
      },
      bulkhead: { maxConcurrent: raw.maxConcurrent, maxQueue: raw.maxQueue },
      retry: { maxRetries: raw.maxRetries, baseDelayMillis: raw.retryBase, maxDelayMillis: raw.retryMax },
      attemptTimeoutMillis: raw.attemptTimeout,
      deadlineMillis: raw.deadline
    }
    const invalid = validateRateLimit(config.rateLimit)
    if (invalid !== undefined) {
      return yield* new InvalidConfig({ message: `Invalid configuration: AI_RATE_BURST: ${invalid}` })
    }
    return config
  }
)
