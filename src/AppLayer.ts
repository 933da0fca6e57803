import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import { AppConfigLive } from "./layers/AppConfig.ts"
import { CacheLive } from "./layers/Cache.ts"
import { Health } from "./layers/Health.ts"
import { EmbeddedHealthChecks } from "./layers/HealthChecks.ts"
import { RedisLive } from "./layers/Redis.ts"

/**
 * The one place the layer graph is assembled. The HTTP server and the worker both run on it;
 * they differ only in what they put on top.
 */
export const AppLayer = Layer.mergeAll(EmbeddedHealthChecks, CacheLive).pipe(
  Layer.provideMerge(RedisLive),
  Layer.provideMerge(Health.Default),
  Layer.provideMerge(AppConfigLive),
  Layer.provideMerge(NodeContext.layer)
)
