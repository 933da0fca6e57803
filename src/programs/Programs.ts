import { Effect, Layer } from "effect"
import { AppConfig } from "../layers/AppConfig.ts"
import { Accounts } from "./accounts.ts"
import { Aggregates } from "./Aggregates.ts"
import { BlockCredits, BlockCreditsDaemon } from "./blockCredits.ts"
import { MoodLog } from "./mood.ts"
import { TaskReadModel } from "./taskReadModel.ts"
import { RewardStore } from "./store.ts"
import { Tasks } from "./tasks.ts"

/**
 * The product's use cases over the actor system and the event store, with their shared parts. The
 * `TaskBreakdown` seam comes from outside: the `task_breakdown` chain in the application.
 */
export const ProgramsLive = Layer.mergeAll(
  Accounts.layer,
  Tasks.layer,
  MoodLog.layer,
  RewardStore.layer,
  BlockCredits.layer
).pipe(Layer.provideMerge(Layer.mergeAll(Aggregates.layer, TaskReadModel.layer)))

/**
 * In embedded mode the server process is the only process, so it runs the block credit process
 * manager itself; in production that is the worker's job.
 */
export const EmbeddedBackgroundLive = Layer.unwrap(
  Effect.map(AppConfig, (config) => (config.mode === "embedded" ? BlockCreditsDaemon : Layer.empty))
)
