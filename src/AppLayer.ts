import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Option } from "effect"
import { AiOptimizerLive } from "./layers/AiOptimizer.ts"
import { AppConfig, AppConfigLive } from "./layers/AppConfig.ts"
import { Database } from "./layers/Database.ts"
import { EventStoreMongoLive } from "./layers/EventStoreMongo.ts"
import { EventStoreSqliteLive } from "./layers/EventStoreSqlite.ts"
import { Health } from "./layers/Health.ts"
import { EmbeddedHealthChecks } from "./layers/HealthChecks.ts"
import { LanguageModelLive } from "./layers/LanguageModel.ts"
import { ActorSystem } from "./programs/actors/ActorSystem.ts"
import { ProgramsLive } from "./programs/Programs.ts"

/** MongoDB when MONGODB_URI is set (production), else the embedded SQLite file under DATA_DIR. */
const EventStoreLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Option.isSome(config.mongodb)
      ? EventStoreMongoLive.pipe(Layer.provide(Database.Default))
      : EventStoreSqliteLive
  )
)

/**
 * The one place the layer graph is assembled. The HTTP server and the worker both run on it;
 * they differ only in what they put on top.
 */
export const AppLayer = Layer.mergeAll(EmbeddedHealthChecks, ProgramsLive, LanguageModelLive).pipe(
  Layer.provideMerge(ActorSystem.Default),
  Layer.provideMerge(AiOptimizerLive),
  Layer.provideMerge(EventStoreLive),
  Layer.provideMerge(Health.Default),
  Layer.provideMerge(AppConfigLive),
  Layer.provideMerge(NodeContext.layer)
)
