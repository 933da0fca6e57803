import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { AppLayer } from "./AppLayer.ts"
import { LoggingLive } from "./layers/observability/Logging.ts"
import { BlockCredits } from "./programs/blockCredits.ts"
import { Planner } from "./programs/planner/Planner.ts"
import { TaskReadModel } from "./programs/taskReadModel.ts"

/**
 * `npm run projections:rebuild -- <name>`: drops a subscription's read-model rows and checkpoint and
 * folds the log again from position 1, on the configured store (DATA_DIR's SQLite file, or MongoDB
 * with MONGODB_URI). Running servers need no restart: their next catch-up finds the new checkpoint,
 * and any of them folding at the same moment only loses commit races (no event is applied twice).
 */
const NAMES = ["tasks", "planner", "block-credits"] as const
type Name = (typeof NAMES)[number]
const isName = (value: string | undefined): value is Name => NAMES.some((name) => name === value)

const subscriptionNamed = (name: Name) => {
  switch (name) {
    case "tasks":
      return Effect.map(TaskReadModel, (model) => model.subscription)
    case "planner":
      return Effect.map(Planner, (planner) => planner.subscription)
    case "block-credits":
      return Effect.map(BlockCredits, (credits) => credits.subscription)
  }
}

const name = process.argv[2]
const program = isName(name)
  ? Effect.gen(function* () {
      const subscription = yield* subscriptionNamed(name)
      const started = performance.now()
      yield* subscription.rebuild
      const run = yield* subscription.run
      yield* Console.log(
        `rebuilt ${name}: ${run.folded} events folded, checkpoint at ${run.position} (${Math.round(performance.now() - started)} ms)`
      )
    }).pipe(Effect.provide(AppLayer))
  : Console.error(`usage: npm run projections:rebuild -- <${NAMES.join("|")}>`).pipe(
      Effect.andThen(
        Effect.sync(() => {
          process.exitCode = 2
        })
      )
    )

program.pipe(Effect.provide(LoggingLive), NodeRuntime.runMain)
