import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import { AiOptimizerLive } from "./layers/AiOptimizer.ts"
import { AppConfigLive } from "./layers/AppConfig.ts"
import { Health } from "./layers/Health.ts"
import { EmbeddedHealthChecks } from "./layers/HealthChecks.ts"
import { LanguageModelLive } from "./layers/LanguageModel.ts"

/**
 * The one place the layer graph is assembled. The HTTP server and the worker both run on it;
 * they differ only in what they put on top.
 */
export const AppLayer = Layer.mergeAll(EmbeddedHealthChecks, LanguageModelLive).pipe(
  Layer.provideMerge(AiOptimizerLive),
  Layer.provideMerge(Health.Default),
  Layer.provideMerge(AppConfigLive),
  Layer.provideMerge(NodeContext.layer)
)
