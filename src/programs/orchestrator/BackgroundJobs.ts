import { Cause, Clock, type Duration, Effect, Layer, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { runInBackground } from "../../eventsourcing/SubscriptionDaemon.ts"
import { logReleased } from "../../layers/observability/Logging.ts"
import { Memory } from "../memory/Memory.ts"
import { Planner } from "../planner/Planner.ts"
import { backgroundJobsInServer, WorkerState } from "./WorkerState.ts"

export interface BackgroundJobOptions {
  readonly tickEvery: Duration.Input
  readonly expireEvery: Duration.Input
}

export const defaultBackgroundJobOptions: BackgroundJobOptions = {
  tickEvery: "5 seconds",
  expireEvery: "1 minute"
}

/**
 * The planner tick and the memory expiry sweep, forever, until the scope closes. Each worker has its
 * own id; the planner's claims make several workers (or a worker and an embedded server) safe.
 */
export const backgroundJobs = (
  mode: "embedded" | "worker",
  options: BackgroundJobOptions = defaultBackgroundJobOptions
) =>
  Layer.effectDiscard(
    Effect.gen(function* () {
      const planner = yield* Planner
      const memory = yield* Memory
      const state = yield* WorkerState
      const workerId = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
      yield* logReleased("background-jobs")
      yield* state.update((s) => ({ ...s, mode, running: true }))
      yield* Effect.addFinalizer(() => state.update((s) => ({ ...s, running: false })))
      const failed = (cause: Cause.Cause<unknown>) =>
        Effect.logWarning("background job failed", cause).pipe(
          Effect.andThen(state.update((s) => ({ ...s, last_error: Cause.pretty(cause).slice(0, 500) })))
        )
      const tick = planner.tick(workerId).pipe(
        Effect.andThen(Clock.currentTimeMillis),
        Effect.flatMap((now) =>
          state.update((s) => ({ ...s, ticks: s.ticks + 1, last_tick_at: new Date(now).toISOString() }))
        ),
        Effect.catchCause(failed)
      )
      // The planner's queue in the background too: its lag is measured and readiness waits for it.
      yield* runInBackground(planner.subscription, { interval: options.tickEvery })
      yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(options.tickEvery)))
      yield* Effect.forkScoped(
        Effect.repeat(memory.expire.pipe(Effect.catchCause(failed)), Schedule.spaced(options.expireEvery))
      )
      yield* Effect.logInfo("background jobs started").pipe(Effect.annotateLogs({ worker: workerId, mode }))
    })
  )

/** In the server: the jobs when it is configured to run them (see `backgroundJobsInServer`). */
export const EmbeddedJobsLive = Layer.unwrap(
  Effect.map(backgroundJobsInServer, (embedded) => (embedded ? backgroundJobs("embedded") : Layer.empty))
)
