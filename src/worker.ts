import { Effect, Layer } from "effect"
import { AppLayer } from "./AppLayer.ts"
import { launch } from "./launch.ts"
import { BlockCreditsDaemon } from "./programs/blockCredits.ts"
import { backgroundJobs } from "./programs/orchestrator/BackgroundJobs.ts"

/**
 * The background worker: runs the application's periodic jobs (block credits, planner tick, memory expiry). In production (several servers, one or
 * more workers) this is where block credits lost to a crash between two appends are paid; every job is
 * idempotent, so running more than one worker is safe.
 */
const WorkerLive = Layer.effectDiscard(
  Effect.gen(function* () {
    yield* Effect.logInfo("worker started")
    yield* Effect.addFinalizer(() => Effect.logInfo("worker stopping"))
  })
).pipe(
  Layer.provideMerge(BlockCreditsDaemon),
  Layer.provideMerge(backgroundJobs("worker")),
  Layer.provide(AppLayer)
)

launch(WorkerLive)
