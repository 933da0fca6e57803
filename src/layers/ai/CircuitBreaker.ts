import { Cause, Clock, Duration, Effect, Exit, Option, Ref } from "effect"
import { CircuitOpen } from "./errors.ts"

export interface FailureRateConfig {
  /** Trip when at least this share of the calls in the window failed (0 < ratio ≤ 1)... */
  readonly ratio: number
  readonly windowMillis: number
  /** ...and at least this many calls completed in the window, so two unlucky calls do not trip it. */
  readonly minThroughput: number
}

export interface CircuitBreakerConfig {
  readonly consecutiveFailures: number
  readonly openMillis: number
  readonly halfOpenProbes: number
  /**
   * A probe that has not reported back after this long counts as failed, so a hung probe cannot hold
   * the breaker half-open; it also bounds the `retryAfter` given to callers turned away while probing.
   */
  readonly probeTimeoutMillis: number
  readonly failureRate: Option.Option<FailureRateConfig>
}

export type Outcome = "success" | "failure" | "neutral"

interface Probe {
  readonly id: number
  readonly startedAt: number
}

export type BreakerState =
  | {
      readonly _tag: "Closed"
      readonly consecutive: number
      readonly outcomes: ReadonlyArray<{ readonly at: number; readonly failed: boolean }>
    }
  | { readonly _tag: "Open"; readonly until: number }
  | { readonly _tag: "HalfOpen"; readonly probes: ReadonlyArray<Probe> }

export interface Machine {
  readonly state: BreakerState
  /** Bumped on every transition: outcomes of calls admitted under an older state are ignored. */
  readonly generation: number
  readonly trips: number
  readonly nextId: number
}

export interface Ticket {
  readonly id: number
  readonly generation: number
  readonly probe: boolean
}

export const initialMachine: Machine = {
  state: { _tag: "Closed", consecutive: 0, outcomes: [] },
  generation: 0,
  trips: 0,
  nextId: 0
}

const trip = (machine: Machine, at: number, config: CircuitBreakerConfig): Machine => ({
  ...machine,
  state: { _tag: "Open", until: at + config.openMillis },
  generation: machine.generation + 1,
  trips: machine.trips + 1
})

/** A half-open breaker whose oldest probe overran its timeout is open again, from the moment it overran. */
const expireProbes = (machine: Machine, now: number, config: CircuitBreakerConfig): Machine => {
  if (machine.state._tag !== "HalfOpen") return machine
  const overdue = machine.state.probes.find((probe) => probe.startedAt + config.probeTimeoutMillis <= now)
  return overdue === undefined
    ? machine
    : trip(machine, overdue.startedAt + config.probeTimeoutMillis, config)
}

/**
 * Admission is one pure step applied inside `Ref.modify`, so however many fibers arrive at the same
 * instant, exactly `halfOpenProbes` of them become probes.
 */
export const admit = (
  current: Machine,
  now: number,
  config: CircuitBreakerConfig
): readonly [Ticket | { readonly retryAfterMillis: number }, Machine] => {
  let machine = expireProbes(current, now, config)
  if (machine.state._tag === "Open") {
    if (now < machine.state.until) return [{ retryAfterMillis: machine.state.until - now }, machine]
    machine = { ...machine, state: { _tag: "HalfOpen", probes: [] }, generation: machine.generation + 1 }
  }
  const ticket = { id: machine.nextId, generation: machine.generation }
  const withId = { ...machine, nextId: machine.nextId + 1 }
  const state = machine.state
  if (state._tag === "Closed") return [{ ...ticket, probe: false }, withId]
  const probes = state._tag === "HalfOpen" ? state.probes : []
  if (probes.length < config.halfOpenProbes) {
    return [
      { ...ticket, probe: true },
      { ...withId, state: { _tag: "HalfOpen", probes: [...probes, { id: ticket.id, startedAt: now }] } }
    ]
  }
  const firstDecision = Math.min(...probes.map((probe) => probe.startedAt + config.probeTimeoutMillis))
  return [{ retryAfterMillis: Math.max(1, firstDecision - now) }, machine]
}

export const record = (
  current: Machine,
  ticket: Ticket,
  outcome: Outcome,
  now: number,
  config: CircuitBreakerConfig
): Machine => {
  const machine = expireProbes(current, now, config)
  if (ticket.generation !== machine.generation) return machine
  const state = machine.state
  switch (state._tag) {
    case "Open":
      return machine
    case "HalfOpen": {
      if (outcome === "success") {
        return {
          ...machine,
          state: { _tag: "Closed", consecutive: 0, outcomes: [] },
          generation: machine.generation + 1
        }
      }
      if (outcome === "failure") return trip(machine, now, config)
      return {
        ...machine,
        state: { _tag: "HalfOpen", probes: state.probes.filter((probe) => probe.id !== ticket.id) }
      }
    }
    case "Closed": {
      if (outcome === "neutral") return machine
      const failed = outcome === "failure"
      const consecutive = failed ? state.consecutive + 1 : 0
      if (consecutive >= config.consecutiveFailures) return trip(machine, now, config)
      return Option.match(config.failureRate, {
        onNone: () => ({ ...machine, state: { ...state, consecutive } }),
        onSome: (rate) => {
          const outcomes = [
            ...state.outcomes.filter((o) => o.at > now - rate.windowMillis),
            { at: now, failed }
          ]
          const failures = outcomes.filter((o) => o.failed).length
          if (outcomes.length >= rate.minThroughput && failures / outcomes.length >= rate.ratio) {
            return trip(machine, now, config)
          }
          return { ...machine, state: { _tag: "Closed" as const, consecutive, outcomes } }
        }
      })
    }
  }
}

export interface BreakerSnapshot {
  readonly state: "closed" | "open" | "half_open"
  readonly trips: number
  readonly consecutiveFailures: number
  /** While open: how long until a probe may go out. */
  readonly retryAfterMillis: number
}

export interface CircuitBreaker {
  /**
   * Runs `effect` if the breaker admits it. `isFault` says which failures are the provider's fault;
   * other failures, interruptions and defects are neutral: they neither trip nor close the breaker.
   */
  readonly guard: <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    isFault: (error: E) => boolean
  ) => Effect.Effect<A, E | CircuitOpen, R>
  readonly snapshot: Effect.Effect<BreakerSnapshot>
}

const outcomeOf = <A, E>(exit: Exit.Exit<A, E>, isFault: (error: E) => boolean): Outcome =>
  Exit.match(exit, {
    onSuccess: () => "success",
    onFailure: (cause) =>
      Option.match(Cause.findErrorOption(cause), {
        onNone: () => "neutral",
        onSome: (error) => (isFault(error) ? "failure" : "neutral")
      })
  })

export const makeCircuitBreaker = (config: CircuitBreakerConfig): Effect.Effect<CircuitBreaker> =>
  Effect.map(Ref.make(initialMachine), (ref) => ({
    guard: <A, E, R>(effect: Effect.Effect<A, E, R>, isFault: (error: E) => boolean) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const admission = yield* Ref.modify(ref, (machine) => admit(machine, now, config))
          if ("retryAfterMillis" in admission) {
            return yield* new CircuitOpen({ retryAfter: Duration.millis(admission.retryAfterMillis) })
          }
          const exit = yield* Effect.exit(restore(effect))
          const end = yield* Clock.currentTimeMillis
          yield* Ref.update(ref, (machine) =>
            record(machine, admission, outcomeOf(exit, isFault), end, config)
          )
          return yield* exit
        })
      ),
    snapshot: Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const machine = expireProbes(yield* Ref.get(ref), now, config)
      const state = machine.state
      return {
        state:
          state._tag === "Closed"
            ? "closed"
            : state._tag === "HalfOpen" || now >= state.until
              ? "half_open"
              : "open",
        trips: machine.trips,
        consecutiveFailures: state._tag === "Closed" ? state.consecutive : 0,
        retryAfterMillis: state._tag === "Open" ? Math.max(0, state.until - now) : 0
      } satisfies BreakerSnapshot
    })
  }))
