import { Effect, Layer } from "effect"
import { AppLayer } from "./AppLayer.ts"
import { launch } from "./launch.ts"

/** The background worker: runs the periodic jobs of the application (planner, memory expiry, projections). */
const WorkerLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    yield* Effect.logInfo("worker started")
    yield* Effect.addFinalizer(() => Effect.logInfo("worker stopping"))
  })
).pipe(Layer.provide(AppLayer))

launch(WorkerLive)
