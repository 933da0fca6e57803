import { Context, Effect, type Exit, Layer } from "effect"
import * as Prom from "prom-client"
import { AppConfig } from "../config/AppConfig.ts"
import { RequestStats } from "./RequestStats.ts"

/**
 * The one Prometheus registry of the process and every metric in it, defined here so that each
 * component only calls typed helpers (`metrics.cache.hit("l1")`) and the names, labels and buckets
 * stay consistent in one place. Label values passed in must be bounded sets (tiers, reasons, kinds,
 * chain and step names): never ids, paths or user input.
 */

export type CacheTier = "l1" | "l2"
export type BreakerState = "closed" | "half_open" | "open"
export type ChainSource = "model" | "heuristic" | "cache"
/**
 * How an actor command ended (see the entity runtime's `CommandOutcome`), plus `conflict_retry`: one
 * more decision after losing a race, counted per retry, not per command.
 */
export type ActorCommandOutcome = "ok" | "rejected" | "conflict" | "overloaded" | "failed" | "conflict_retry"

/*
 * The known values of every bounded label. Each series is created at 0 when its metric is registered
 * (or, for values known only at run time such as actor kinds, chains and stores, when that value is
 * first known), so a dashboard panel reading it shows 0 instead of "No data" before the first event.
 */
const CACHE_TIERS: ReadonlyArray<CacheTier> = ["l1", "l2"]
const CACHE_OPERATIONS = ["get", "set", "delete", "publish"] as const
const AI_REJECTION_REASONS = ["circuit_open", "rate_limited", "bulkhead_full", "timeout"] as const
const AI_REQUEST_OUTCOMES = ["success", "failure", "retry"] as const
const ACTOR_COMMAND_OUTCOMES: ReadonlyArray<ActorCommandOutcome> = [
  "ok",
  "rejected",
  "conflict",
  "overloaded",
  "failed",
  "conflict_retry"
]
const CHAIN_SOURCES: ReadonlyArray<ChainSource> = ["model", "heuristic", "cache"]
const APPEND_OUTCOMES = ["ok", "conflict", "error"] as const

const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 }

/** Buckets for in-process operations that should take milliseconds (store appends, cache calls). */
const FAST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]
/** Buckets for AI chain steps, which may wait seconds on a provider. */
const SLOW_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]

const make = (registry: Prom.Registry, windowMinutes: number) => {
  const registers = [registry]
  const counter = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L>) =>
    new Prom.Counter<L>({ name, help, labelNames, registers })
  const gauge = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L>) =>
    new Prom.Gauge<L>({ name, help, labelNames, registers })
  const histogram = <L extends string>(
    name: string,
    help: string,
    labelNames: ReadonlyArray<L>,
    buckets: ReadonlyArray<number>
  ) => new Prom.Histogram<L>({ name, help, labelNames, buckets: [...buckets], registers })

  const http = {
    stats: new RequestStats(windowMinutes, registry),
    errors: counter("http_server_errors_total", "Error responses by method, route template and error _tag", [
      "method",
      "route",
      "tag"
    ])
  }

  const cacheHits = counter("focusforge_cache_hits_total", "Cache hits by tier", ["tier"])
  const cacheMisses = counter("focusforge_cache_misses_total", "Cache misses by tier", ["tier"])
  const cacheErrors = counter("focusforge_cache_errors_total", "Cache failures by tier and operation", [
    "tier",
    "operation"
  ])
  for (const tier of CACHE_TIERS) {
    cacheHits.inc({ tier }, 0)
    cacheMisses.inc({ tier }, 0)
    for (const operation of CACHE_OPERATIONS) cacheErrors.inc({ tier, operation }, 0)
  }
  const cache = {
    hit: (tier: CacheTier, count = 1) => cacheHits.inc({ tier }, count),
    miss: (tier: CacheTier, count = 1) => cacheMisses.inc({ tier }, count),
    error: (tier: CacheTier, operation: (typeof CACHE_OPERATIONS)[number], count = 1) =>
      cacheErrors.inc({ tier, operation }, count)
  }

  const breakerStates = new Map<string, BreakerState>()
  const aiBreaker = gauge(
    "focusforge_ai_breaker_state",
    "Circuit breaker state per breaker: 0 closed, 1 half-open, 2 open",
    ["breaker"]
  )
  const aiTrips = counter("focusforge_ai_breaker_trips_total", "Times a breaker opened", ["breaker"])
  const aiRejections = counter(
    "focusforge_ai_rejections_total",
    "AI calls refused before reaching the provider, by reason",
    ["reason"]
  )
  const aiRequests = counter("focusforge_ai_requests_total", "AI provider calls by outcome", ["outcome"])
  const aiInFlight = gauge("focusforge_ai_in_flight", "AI provider calls running now", [])
  const aiQueued = gauge("focusforge_ai_queue_depth", "AI calls waiting for a bulkhead slot", [])
  for (const reason of AI_REJECTION_REASONS) aiRejections.inc({ reason }, 0)
  for (const outcome of AI_REQUEST_OUTCOMES) aiRequests.inc({ outcome }, 0)
  const ai = {
    /** Also feeds the `breaker_open` alert: the Monitor reads the states recorded here. */
    setBreakerState: (breaker: string, state: BreakerState) => {
      if (!breakerStates.has(breaker)) aiTrips.inc({ breaker }, 0)
      breakerStates.set(breaker, state)
      aiBreaker.set({ breaker }, BREAKER_STATE_VALUE[state])
    },
    trip: (breaker: string, count = 1) => aiTrips.inc({ breaker }, count),
    reject: (reason: (typeof AI_REJECTION_REASONS)[number], count = 1) => aiRejections.inc({ reason }, count),
    request: (outcome: (typeof AI_REQUEST_OUTCOMES)[number], count = 1) => aiRequests.inc({ outcome }, count),
    setInFlight: (count: number) => aiInFlight.set(count),
    setQueued: (count: number) => aiQueued.set(count),
    breakerStates: (): ReadonlyMap<string, BreakerState> => breakerStates
  }

  const appendSeconds = histogram(
    "focusforge_event_store_append_duration_seconds",
    "Event store append latency by store and outcome",
    ["store", "outcome"],
    FAST_BUCKETS
  )
  const conflicts = counter(
    "focusforge_event_store_conflicts_total",
    "Appends refused with a VersionConflict",
    ["store"]
  )
  const appended = counter("focusforge_event_store_events_appended_total", "Events appended", ["store"])
  const store = {
    /** Creates the store's series at 0 (called once the store in use is known). */
    known: (store: string) => {
      for (const outcome of APPEND_OUTCOMES) appendSeconds.zero({ store, outcome })
      conflicts.inc({ store }, 0)
      appended.inc({ store }, 0)
    },
    observeAppend: (
      store: string,
      seconds: number,
      outcome: (typeof APPEND_OUTCOMES)[number],
      events = 0
    ) => {
      appendSeconds.observe({ store, outcome }, seconds)
      if (outcome === "conflict") conflicts.inc({ store })
      if (events > 0) appended.inc({ store }, events)
    }
  }

  const actorsLive = gauge("focusforge_actors_live", "Entity actors currently in memory, by kind", ["kind"])
  const mailboxDepth = gauge(
    "focusforge_actor_mailbox_depth",
    "Commands waiting in actor mailboxes, by kind",
    ["kind"]
  )
  const actorCommands = counter(
    "focusforge_actor_commands_total",
    "Actor commands by kind and outcome: ok, rejected (by the decider), conflict (retries exhausted), overloaded (mailbox full), failed (store error or defect); conflict_retry counts retries",
    ["kind", "outcome"]
  )
  const actorPassivations = counter(
    "focusforge_actor_passivations_total",
    "Actors stopped, by kind and reason: idle (TTL), evicted (ACTORS_MAX reached), empty (no events)",
    ["kind", "reason"]
  )
  const actorsMax = gauge("focusforge_actors_max", "Ceiling on live actors of every kind (ACTORS_MAX)", [])
  const actorsTotal = gauge(
    "focusforge_actors_live_all_kinds",
    "Entity actors currently in memory, all kinds",
    []
  )
  const actors = {
    /** `count` 0 is meaningful: it makes the series exist before the first passivation. */
    passivated: (kind: string, reason: "idle" | "evicted" | "empty", count: number) =>
      actorPassivations.inc({ kind, reason }, count),
    setResidency: (live: number, max: number) => {
      actorsTotal.set(live)
      actorsMax.set(max)
    },
    setLive: (kind: string, count: number) => actorsLive.set({ kind }, count),
    addLive: (kind: string, delta: number) => actorsLive.inc({ kind }, delta),
    addQueued: (kind: string, delta: number) => mailboxDepth.inc({ kind }, delta),
    setQueued: (kind: string, count: number) => mailboxDepth.set({ kind }, count),
    /** Creates every outcome series of an actor kind at 0. */
    knownKind: (kind: string) => {
      for (const outcome of ACTOR_COMMAND_OUTCOMES) actorCommands.inc({ kind, outcome }, 0)
    },
    command: (kind: string, outcome: ActorCommandOutcome, count = 1) =>
      actorCommands.inc({ kind, outcome }, count)
  }

  const subscriptionLag = gauge(
    "focusforge_subscription_lag_events",
    "Events committed to the log that a subscription (read model or process manager) has not folded yet",
    ["subscription"]
  )
  const subscriptionFolded = counter(
    "focusforge_subscription_events_total",
    "Events folded by this process's subscriptions",
    ["subscription"]
  )
  const subscriptions = {
    /** Creates the subscription's series at 0. */
    known: (name: string) => {
      subscriptionLag.set({ subscription: name }, 0)
      subscriptionFolded.inc({ subscription: name }, 0)
    },
    setLag: (name: string, lag: number) => subscriptionLag.set({ subscription: name }, lag),
    folded: (name: string, events: number) => subscriptionFolded.inc({ subscription: name }, events)
  }

  const stepSeconds = histogram(
    "focusforge_chain_step_duration_seconds",
    "AI chain step duration by chain, step and where the result came from",
    ["chain", "step", "source"],
    SLOW_BUCKETS
  )
  const chainRuns = counter("focusforge_chain_runs_total", "AI chain runs by chain and result source", [
    "chain",
    "source"
  ])
  const chains = {
    /** Creates every source series of a registered chain at 0. */
    known: (chain: string) => {
      for (const source of CHAIN_SOURCES) chainRuns.inc({ chain, source }, 0)
    },
    observeStep: (chain: string, step: string, source: ChainSource, seconds: number) =>
      stepSeconds.observe({ chain, step, source }, seconds),
    run: (chain: string, source: ChainSource) => chainRuns.inc({ chain, source })
  }

  const alertsActive = gauge(
    "focusforge_alerts_active",
    "Active monitor alerts, by alert kind (label alert): 0 or more per kind",
    ["alert"]
  )
  /** A 0–1 `_ratio` gauge (Prometheus convention) fed with the monitor's percentages. */
  const ratio = (name: string, help: string) => {
    const g = gauge(name, help, [])
    return { set: (percent: number) => g.set(percent / 100) }
  }
  const system = {
    alertsActive,
    cpuPercent: ratio("focusforge_system_cpu_usage_ratio", "Whole-machine CPU use over the last sample, 0-1"),
    processCpuPercent: ratio(
      "focusforge_process_cpu_usage_ratio",
      "This process's CPU use over the last sample, 1 = one core busy"
    ),
    memoryPercent: ratio("focusforge_system_memory_used_ratio", "Share of machine memory in use, 0-1"),
    diskPercent: ratio(
      "focusforge_data_dir_disk_used_ratio",
      "Share of the file system holding DATA_DIR in use, 0-1"
    ),
    diskFreeBytes: gauge(
      "focusforge_data_dir_disk_free_bytes",
      "Free bytes on the file system holding DATA_DIR",
      []
    )
  }

  return { registry, http, cache, ai, store, actors, subscriptions, chains, system } as const
}

/**
 * Times an effect with the monotonic clock and reports its duration in seconds and its exit, e.g.
 * `timed(append, (s, exit) => metrics.store.observeAppend("sqlite", s, Exit.isSuccess(exit) ? "ok" : "error"))`.
 */
export const timed = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  report: (seconds: number, exit: Exit.Exit<A, E>) => void
): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const started = performance.now()
    return Effect.onExit(effect, (exit) =>
      Effect.sync(() => report((performance.now() - started) / 1000, exit))
    )
  })

export class Metrics extends Context.Service<Metrics>()("Metrics", {
  make: Effect.gen(function* () {
    const { monitor } = yield* AppConfig
    const registry = new Prom.Registry()
    if (monitor.enabled) Prom.collectDefaultMetrics({ register: registry })
    return make(registry, monitor.windowMinutes)
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
