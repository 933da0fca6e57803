import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { AiOptimizerLive } from "./layers/ai/AiOptimizer.ts"
import { AppConfig, AppConfigLive } from "./layers/config/AppConfig.ts"
import { CacheLive } from "./layers/cache/Cache.ts"
import { EventStoreMetricsLive } from "./layers/eventstore/EventStoreMetrics.ts"
import { EventStoreSqliteLive } from "./layers/eventstore/EventStoreSqlite.ts"
import { Health } from "./layers/observability/Health.ts"
import { EmbeddedHealthChecks } from "./layers/observability/HealthChecks.ts"
import { LanguageModelLive } from "./layers/ai/LanguageModel.ts"
import { Metrics } from "./layers/observability/Metrics.ts"
import { Monitor } from "./layers/observability/Monitor.ts"
import { RedisLive } from "./layers/redis/Redis.ts"
import { SystemProbeLive } from "./layers/observability/SystemProbe.ts"
import { TelemetryLive } from "./layers/observability/Telemetry.ts"
import { ActorSystem } from "./eventsourcing/ActorSystem.ts"
import { InstrumentationLive } from "./programs/instrumentation.ts"
import { ChainsLive } from "./programs/chains/Builtins.ts"
import { ChainTaskBreakdown } from "./programs/chains/ChainTaskBreakdown.ts"
import { MemoryChainPlannerLive } from "./programs/orchestrator/OrchestratorLayer.ts"
import { TasksTaskPort } from "./programs/orchestrator/TasksTaskPort.ts"
import { WorkerStateLive } from "./programs/orchestrator/WorkerState.ts"
import { ProgramsLive } from "./programs/programs.ts"

/**
 * The MongoDB store and its pool, imported only when MONGODB_URI is set: the driver is ~23 MB of memory
 * and ~140 ms of start-up that the embedded default never uses.
 */
const MongoEventStoreLive = Layer.unwrap(
  Effect.promise(async () => {
    const [{ EventStoreMongoLive }, { Database }] = await Promise.all([
      import("./layers/eventstore/EventStoreMongo.ts"),
      import("./layers/eventstore/Database.ts")
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
