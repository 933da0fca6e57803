import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { AiOptimizerLive } from "./layers/AiOptimizer.ts"
import { AppConfig, AppConfigLive } from "./layers/AppConfig.ts"
import { CacheLive } from "./layers/Cache.ts"
import { EventStoreMetricsLive } from "./layers/EventStoreMetrics.ts"
import { EventStoreSqliteLive } from "./layers/EventStoreSqlite.ts"
import { Health } from "./layers/Health.ts"
import { EmbeddedHealthChecks } from "./layers/HealthChecks.ts"
import { LanguageModelLive } from "./layers/LanguageModel.ts"
import { Metrics } from "./layers/Metrics.ts"
import { Monitor } from "./layers/Monitor.ts"
import { RedisLive } from "./layers/Redis.ts"
import { SystemProbeLive } from "./layers/SystemProbe.ts"
import { TelemetryLive } from "./layers/Telemetry.ts"
import { ActorSystem } from "./eventsourcing/ActorSystem.ts"
import { InstrumentationLive } from "./programs/Instrumentation.ts"
import { ChainsLive } from "./programs/chains/builtins.ts"
import { ChainTaskBreakdown } from "./programs/chains/ChainTaskBreakdown.ts"
import { MemoryChainPlannerLive } from "./programs/orchestrator/OrchestratorLayer.ts"
import { TasksTaskPort } from "./programs/orchestrator/TasksTaskPort.ts"
import { WorkerStateLive } from "./programs/orchestrator/WorkerState.ts"
import { ProgramsLive } from "./programs/Programs.ts"

/**
 * The MongoDB store and its pool, imported only when MONGODB_URI is set: the driver is ~23 MB of memory
 * and ~140 ms of start-up that the embedded default never uses.
 */
const MongoEventStoreLive = Layer.unwrap(
  Effect.promise(async () => {
    const [{ EventStoreMongoLive }, { Database }] = await Promise.all([
      import("./layers/EventStoreMongo.ts"),
      import("./layers/Database.ts")
    ])
    return EventStoreMongoLive.pipe(Layer.provide(Database.layer))
  })
)

/**
 * MongoDB when MONGODB_URI is set (production), else the embedded SQLite file under DATA_DIR; either way
 * with every append timed and counted.
 */
const EventStoreLive = EventStoreMetricsLive.pipe(
  Layer.provideMerge(
    Layer.unwrap(
      Effect.map(AppConfig, (config) =>
        Option.isSome(config.mongodb) ? MongoEventStoreLive : EventStoreSqliteLive
      )
    )
  )
)

/**
 * The one place the layer graph is assembled. The HTTP server and the worker both run on it;
 * they differ only in what they put on top.
 */
export const AppLayer = InstrumentationLive.pipe(
  Layer.provideMerge(Layer.mergeAll(EmbeddedHealthChecks, MemoryChainPlannerLive, Monitor.layer)),
  Layer.provideMerge(Layer.mergeAll(TasksTaskPort, WorkerStateLive)),
  Layer.provideMerge(ProgramsLive),
  Layer.provideMerge(ChainTaskBreakdown),
  Layer.provideMerge(ChainsLive),
  Layer.provideMerge(LanguageModelLive),
  Layer.provideMerge(CacheLive),
  Layer.provideMerge(ActorSystem.layer),
  Layer.provideMerge(AiOptimizerLive),
  Layer.provideMerge(RedisLive),
  Layer.provideMerge(EventStoreLive),
  Layer.provideMerge(Layer.mergeAll(Metrics.layer, SystemProbeLive, TelemetryLive)),
  Layer.provideMerge(Health.layer),
  Layer.provideMerge(AppConfigLive),
  Layer.provideMerge(NodeServices.layer)
)
