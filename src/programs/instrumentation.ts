import { Context, Duration, Effect, Layer, Option, Schedule, Semaphore } from "effect"
import { AiOptimizer } from "../layers/ai/AiOptimizer.ts"
import { Cache } from "../layers/cache/Cache.ts"
import { Metrics } from "../layers/observability/Metrics.ts"
import { ActorSystem } from "../eventsourcing/ActorSystem.ts"
import { COMMAND_OUTCOMES } from "../eventsourcing/EntityRuntime.ts"
import { ChainExecutor } from "./chains/ChainExecutor.ts"
import { PASSIVATION_REASONS } from "../eventsourcing/Residency.ts"

const SAMPLE_EVERY = Duration.seconds(1)

/**
 * Copies the components' own statistics (the source of truth, kept by each component in Refs) into the
 * Prometheus registry: gauges are set, monotonic totals become counter increments of their growth since
 * the last sample. It samples once a second (the monitor's alerts read these values) and again right
 * before each scrape, so `/metrics` is exact. The components stay free of metrics code.
 */
export class Instrumentation extends Context.Service<Instrumentation>()("Instrumentation", {
  make: Effect.gen(function* () {
    const metrics = yield* Metrics
    const actors = yield* ActorSystem
    const optimizer = yield* AiOptimizer
    const cache = yield* Cache
    // Optional: a graph without chains (tests of the actors alone) still samples everything else.
    const chains = yield* Effect.serviceOption(ChainExecutor)
    const knownChains = new Set<string>()

    const seen = new Map<string, number>()
    /** How much a monotonic total grew since the previous sample (a restart of the total counts from 0). */
    const growth = (key: string, total: number): number => {
      const previous = seen.get(key) ?? 0
      seen.set(key, total)
      return total >= previous ? total - previous : total
    }
    const add = (key: string, total: number, inc: (count: number) => void) => {
      const delta = growth(key, total)
      if (delta > 0) inc(delta)
    }

    const sample = Effect.gen(function* () {
      for (const entity of yield* actors.stats) {
        metrics.actors.setLive(entity.type, entity.liveActors)
        metrics.actors.setQueued(entity.type, entity.mailboxDepth)
        metrics.actors.knownKind(entity.type)
        add(`actors.${entity.type}.conflicts`, entity.conflictRetries, (n) =>
          metrics.actors.command(entity.type, "conflict_retry", n)
        )
        for (const outcome of COMMAND_OUTCOMES) {
          add(`actors.${entity.type}.outcome.${outcome}`, entity.outcomes[outcome], (n) =>
            metrics.actors.command(entity.type, outcome, n)
          )
        }
      }
      for (const entity of yield* actors.passivations) {
        for (const reason of PASSIVATION_REASONS) {
          // Incremented by 0 too: every kind × reason series exists from the first sample.
          metrics.actors.passivated(
            entity.type,
            reason,
            growth(`actors.${entity.type}.${reason}`, entity[reason])
          )
        }
      }
      const residency = yield* actors.residency
      metrics.actors.setResidency(residency.live, residency.max)

      const ai = yield* optimizer.stats
      metrics.ai.setBreakerState("provider", ai.breaker.state)
      metrics.ai.setInFlight(ai.inFlight)
      metrics.ai.setQueued(ai.queueDepth)
      add("ai.trips", ai.breaker.trips, (n) => metrics.ai.trip("provider", n))
      add("ai.successes", ai.successes, (n) => metrics.ai.request("success", n))
      add("ai.failures", ai.failures, (n) => metrics.ai.request("failure", n))
      add("ai.retries", ai.retries, (n) => metrics.ai.request("retry", n))
      add("ai.circuit_open", ai.rejections.circuit_open, (n) => metrics.ai.reject("circuit_open", n))
      add("ai.rate_limited", ai.rejections.rate_limited, (n) => metrics.ai.reject("rate_limited", n))
      add("ai.bulkhead_full", ai.rejections.bulkhead_full, (n) => metrics.ai.reject("bulkhead_full", n))
      add("ai.deadline", ai.rejections.deadline_exceeded, (n) => metrics.ai.reject("timeout", n))

      if (Option.isSome(chains)) {
        for (const chain of yield* chains.value.chains) {
          if (knownChains.has(chain.name)) continue
          knownChains.add(chain.name)
          metrics.chains.known(chain.name)
        }
      }

      const cached = yield* cache.stats
      add("cache.l1.hits", cached.l1.hits, (n) => metrics.cache.hit("l1", n))
      add("cache.l1.misses", cached.l1.misses, (n) => metrics.cache.miss("l1", n))
      add("cache.l2.hits", cached.l2.hits, (n) => metrics.cache.hit("l2", n))
      add("cache.l2.misses", cached.l2.misses, (n) => metrics.cache.miss("l2", n))
      add("cache.l2.errors", cached.l2.errors, (n) => metrics.cache.error("l2", "get", n))
    })

    // One sample at a time: two interleaved ones would count the same growth twice.
    const lock = yield* Semaphore.make(1)
    const sampleOnce = lock.withPermits(1)(sample)
    yield* sampleOnce.pipe(Effect.repeat(Schedule.spaced(SAMPLE_EVERY)), Effect.forkScoped)
    return { sample: sampleOnce } as const
  })
}) {
  /** Dependencies (Metrics, ActorSystem, AiOptimizer, Cache) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}

export const InstrumentationLive = Instrumentation.layer
