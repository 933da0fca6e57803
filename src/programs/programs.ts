import { Effect, Layer } from "effect"
import { runInBackground } from "../eventsourcing/SubscriptionDaemon.ts"
import { AppConfig } from "../layers/config/AppConfig.ts"
import { Accounts } from "./accounts.ts"
import { Aggregates } from "./aggregates.ts"
import { BlockCredits, BlockCreditsDaemon } from "./blockCredits.ts"
import { MoodLog } from "./mood.ts"
import { TASK_READ_MODEL_INTERVAL, TaskReadModel } from "./taskReadModel.ts"
import { RewardStore } from "./rewardStore.ts"
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
 * Keeps the task read model current in the background (a listing then rarely has anything to fold)
 * and the instance unready (`/health/ready`) until the first catch-up reached the log's head.
 */
export const TaskReadModelDaemon = Layer.effectDiscard(
  Effect.flatMap(TaskReadModel, (model) =>
    runInBackground(model.subscription, { interval: TASK_READ_MODEL_INTERVAL })
  )
)

/**
 * In embedded mode the server process is the only process, so it runs the block credit process
 * manager itself; in production that is the worker's job.
 */
export const EmbeddedBackgroundLive = Layer.unwrap(
  Effect.map(AppConfig, (config) => (config.mode === "embedded" ? BlockCreditsDaemon : Layer.empty))
)
