import { Config, Context, Duration, Effect, Layer, Scope } from "effect"
import type { Decider } from "../domain/Decider.ts"
import { ActorsMaxConfig, integerSetting, readSetting } from "../layers/config/AppConfig.ts"
import { EventStore } from "./EventStore.ts"
import {
  defaultEntityRuntimeOptions,
  type EntityRuntime,
  type EntityRuntimeOptions,
  type EntityStats,
  makeEntityRuntime
} from "./EntityRuntime.ts"
import { type PassivationCounts, Residency } from "./Residency.ts"

const positive = (name: string, fallback: number) =>
  integerSetting(name, { message: "Expected a positive integer", validation: (n) => n > 0 }).pipe(
    Config.withDefault(fallback)
  )

/** Process-wide defaults of every entity runtime; each aggregate may still override them. */
export const ActorDefaultsConfig: Config.Config<EntityRuntimeOptions> = Config.all({
  mailboxCapacity: positive("ACTOR_MAILBOX_CAPACITY", defaultEntityRuntimeOptions.mailboxCapacity),
  idleTtl: positive("ACTOR_IDLE_TTL_SECONDS", Duration.toSeconds(defaultEntityRuntimeOptions.idleTtl)).pipe(
    Config.map(Duration.seconds)
  ),
  snapshotEvery: positive("ACTOR_SNAPSHOT_EVERY", defaultEntityRuntimeOptions.snapshotEvery),
  maxConflictRetries: positive("ACTOR_MAX_CONFLICT_RETRIES", defaultEntityRuntimeOptions.maxConflictRetries),
  retryAfter: Config.succeed(defaultEntityRuntimeOptions.retryAfter),
  maxLiveActors: ActorsMaxConfig
})

export interface Passivations extends PassivationCounts {
  readonly type: string
}

/**
 * Owns the entity runtimes of the process: each aggregate registers its decider once and gets the
 * runtime that routes its commands; all of them stop with this layer. `stats` feeds the gauges.
 * The runtimes share one `Residency`: `ACTORS_MAX` bounds the live actors of the whole process.
 */
export class ActorSystem extends Context.Service<ActorSystem>()("ActorSystem", {
  make: Effect.gen(function* () {
    const store = yield* EventStore
    const scope = yield* Effect.scope
    const defaults = yield* readSetting(ActorDefaultsConfig)
    const residency = new Residency(defaults.maxLiveActors)
    const runtimes = new Map<string, Effect.Effect<EntityStats>>()
    const passivationsOf = new Map<string, Effect.Effect<PassivationCounts>>()

    const register = <State, Command, Event, Err>(
      decider: Decider<State, Command, Event, Err>,
      options: Partial<EntityRuntimeOptions> = {}
    ): Effect.Effect<EntityRuntime<State, Command, Event, Err>> =>
      Effect.gen(function* () {
        // Two runtimes for one aggregate would be two writers per entity in one process.
        if (runtimes.has(decider.type))
          return yield* Effect.die(new Error(`aggregate ${decider.type} registered twice`))
        const runtime = yield* makeEntityRuntime(decider, { ...defaults, ...options }, residency).pipe(
          Effect.provideService(EventStore, store),
          Scope.provide(scope)
        )
        runtimes.set(decider.type, runtime.stats)
        passivationsOf.set(decider.type, runtime.passivations)
        return runtime
      })

    // Suspended: `values()` is an iterator, spent by its first use if taken once at construction.
    const stats = Effect.suspend(() => Effect.forEach(runtimes.values(), (entityStats) => entityStats))

    /** Actors stopped since start, per aggregate and reason (monotonic totals). */
    const passivations: Effect.Effect<ReadonlyArray<Passivations>> = Effect.suspend(() =>
      Effect.forEach(passivationsOf, ([type, counts]) => Effect.map(counts, (c) => ({ type, ...c })))
    )

    /** Live actors of every aggregate together, and the ceiling they share. */
    const residencyStats = Effect.sync(() => ({ live: residency.size, max: residency.capacity }))

    return { register, stats, passivations, residency: residencyStats } as const
  })
}) {
  /** Needs the EventStore (as `ActorSystem.Default` did); the runtimes stop when the layer is released. */
  static readonly layer = Layer.effect(this, this.make)
}
