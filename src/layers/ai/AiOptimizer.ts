import { Cause, Context, Duration, Effect, Exit, Layer, Option, Redacted, Ref, type Scope } from "effect"
import { AppConfig } from "../config/AppConfig.ts"
import { type AiOptimizerConfig, loadAiOptimizerConfig } from "./AiOptimizerConfig.ts"
import { makeBulkhead } from "./Bulkhead.ts"
import { type BreakerSnapshot, makeCircuitBreaker } from "./CircuitBreaker.ts"
import {
  DeadlineExceeded,
  isProviderFailure,
  isRetryable,
  type OptimizerRejection,
  ProviderTimeout
} from "./errors.ts"
import { makeLocalRateLimit, type RateLimit } from "./RateLimit.ts"
import { makeRedisRateLimit, type RedisTarget } from "./RedisRateLimit.ts"
import { retrySchedule } from "./RetryPolicy.ts"
import { Health } from "../observability/Health.ts"
import { logReleased } from "../observability/Logging.ts"

export interface AiOptimizerStats {
  /** `execute` calls. */
  readonly total: number
  readonly successes: number
  /** Calls that ended with a provider failure after their retries. */
  readonly failures: number
  readonly rejections: {
    readonly circuit_open: number
    readonly rate_limited: number
    readonly bulkhead_full: number
    readonly deadline_exceeded: number
  }
  /** Attempts that reached the provider (retries included). */
  readonly attempts: number
  /** Attempts beyond the first of each call. */
  readonly retries: number
  readonly breaker: BreakerSnapshot
  readonly inFlight: number
  /** Callers waiting for the rate limit or for a bulkhead slot. */
  readonly queueDepth: number
  readonly rateLimitScope: "local" | "shared"
}

export interface AiOptimizerShape {
  readonly config: AiOptimizerConfig
  /**
   * Runs one provider call under the whole policy: breaker → rate limit → bulkhead → per-attempt
   * timeout, retried with backoff for retryable provider faults, all within the overall deadline.
   */
  readonly execute: <A, E extends { readonly _tag: string }, R>(
    attempt: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | ProviderTimeout | OptimizerRejection, R>
  readonly stats: Effect.Effect<AiOptimizerStats>
}

export class AiOptimizer extends Context.Service<AiOptimizer, AiOptimizerShape>()("AiOptimizer") {}

/** The breaker counts what the retry policy retries: faults of the provider, not of the request. */
const isProviderFault = (error: { readonly _tag: string }): boolean =>
  isProviderFailure(error) && isRetryable(error)

const rejectionKey = {
  CircuitOpen: "circuit_open",
  RateLimited: "rate_limited",
  BulkheadFull: "bulkhead_full",
  DeadlineExceeded: "deadline_exceeded"
} as const

type Counters = Omit<AiOptimizerStats, "breaker" | "inFlight" | "queueDepth" | "rateLimitScope">

export const makeAiOptimizer = (
  config: AiOptimizerConfig,
  options: { readonly redis?: RedisTarget | undefined } = {}
): Effect.Effect<AiOptimizerShape, never, Scope.Scope> =>
  Effect.gen(function* () {
    const breaker = yield* makeCircuitBreaker(config.breaker)
    const bulkhead = yield* makeBulkhead(config.bulkhead)
    const limiter: RateLimit =
      options.redis === undefined
        ? yield* makeLocalRateLimit(config.rateLimit)
        : yield* makeRedisRateLimit(config.rateLimit, options.redis)
    const counters = yield* Ref.make<Counters>({
      total: 0,
      successes: 0,
      failures: 0,
      rejections: { circuit_open: 0, rate_limited: 0, bulkhead_full: 0, deadline_exceeded: 0 },
      attempts: 0,
      retries: 0
    })
    const schedule = retrySchedule<{ readonly _tag: string }>(config.retry)
    const attemptTimeout = Duration.millis(config.attemptTimeoutMillis)
    const deadline = Duration.millis(config.deadlineMillis)

    const execute = <A, E extends { readonly _tag: string }, R>(attempt: Effect.Effect<A, E, R>) => {
      const oneAttempt = breaker.guard(
        limiter.acquire.pipe(
          Effect.andThen(
            bulkhead.run(
              Ref.update(counters, (c) => ({ ...c, attempts: c.attempts + 1 })).pipe(
                Effect.andThen(
                  attempt.pipe(
                    Effect.timeoutOrElse({
                      duration: attemptTimeout,
                      orElse: () => Effect.fail(new ProviderTimeout({ after: attemptTimeout }))
                    })
                  )
                )
              )
            )
          )
        ),
        isProviderFault
      )
      return oneAttempt.pipe(
        Effect.retry(schedule),
        Effect.timeoutOrElse({
          duration: deadline,
          orElse: () => Effect.fail(new DeadlineExceeded({ after: deadline }))
        }),
        Effect.onExit((exit) =>
          Ref.update(counters, (c) => {
            const total = c.total + 1
            if (Exit.isSuccess(exit)) return { ...c, total, successes: c.successes + 1 }
            const failure = Cause.findErrorOption(exit.cause)
            if (Option.isNone(failure)) return { ...c, total }
            const tag = failure.value._tag
            if (tag in rejectionKey) {
              const key = rejectionKey[tag as keyof typeof rejectionKey]
              return { ...c, total, rejections: { ...c.rejections, [key]: c.rejections[key] + 1 } }
            }
            return { ...c, total, failures: c.failures + 1 }
          })
        )
      )
    }

    const stats = Effect.gen(function* () {
      const c = yield* Ref.get(counters)
      const slots = yield* bulkhead.snapshot
      const waiting = yield* limiter.waiting
      return {
        ...c,
        retries: Math.max(0, c.attempts - c.total),
        breaker: yield* breaker.snapshot,
        inFlight: slots.active,
        queueDepth: slots.queued + waiting,
        rateLimitScope: options.redis === undefined ? ("local" as const) : ("shared" as const)
      } satisfies AiOptimizerStats
    })

    return { config, execute, stats }
  })

export const layer = (
  config: AiOptimizerConfig,
  options: { readonly redis?: RedisTarget | undefined } = {}
) => Layer.effect(AiOptimizer, makeAiOptimizer(config, options))

/**
 * Health of the AI path: degraded while the breaker keeps calls away from the provider, never critical —
 * every chain has a heuristic fallback, so the service keeps answering.
 */
export const aiHealthCheck = (optimizer: AiOptimizerShape, provider: string) =>
  Effect.map(optimizer.stats, (stats) => ({
    status: stats.breaker.state === "closed" ? ("healthy" as const) : ("degraded" as const),
    ...(stats.breaker.state === "closed"
      ? {}
      : { message: `circuit ${stats.breaker.state}; AI calls fall back to heuristics` }),
    details: {
      provider,
      breaker: stats.breaker.state,
      trips: stats.breaker.trips,
      in_flight: stats.inFlight,
      queue_depth: stats.queueDepth,
      rate_limit: stats.rateLimitScope
    }
  }))

/** Configured from the environment; the limit is shared through Redis when REDIS_URL is set. */
export const AiOptimizerLive = Layer.effect(
  AiOptimizer,
  Effect.gen(function* () {
    const app = yield* AppConfig
    const health = yield* Health
    const config = yield* loadAiOptimizerConfig
    const redis = Option.match(app.redisUrl, {
      onNone: () => undefined,
      onSome: (url) => ({ url: Redacted.value(url), prefix: "ff:ratelimit:" })
    })
    const optimizer = yield* makeAiOptimizer(config, { redis })
    yield* health.register("ai", aiHealthCheck(optimizer, app.ai.provider), { critical: false })
    yield* logReleased("ai-optimizer")
    return optimizer
  })
)
