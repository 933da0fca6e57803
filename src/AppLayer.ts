import { NodeContext } from "@effect/platform-node"
import { Layer } from "effect"
import { AppConfigLive } from "./layers/AppConfig.ts"
import { Health } from "./layers/Health.ts"
import { EmbeddedHealthChecks } from "./layers/HealthChecks.ts"
import { Metrics } from "./layers/Metrics.ts"
import { Monitor } from "./layers/Monitor.ts"
import { SystemProbeLive } from "./layers/SystemProbe.ts"
import { TelemetryLive } from "./layers/Telemetry.ts"

/**
 * The one place the layer graph is assembled. The HTTP server and the worker both run on it;
 * they differ only in what they put on top.
 */
export const AppLayer = Layer.mergeAll(EmbeddedHealthChecks, Monitor.Default).pipe(
  Layer.provideMerge(Layer.mergeAll(Metrics.Default, SystemProbeLive, TelemetryLive)),
  Layer.provideMerge(Health.Default),
  Layer.provideMerge(AppConfigLive),
  Layer.provideMerge(NodeContext.layer)
)
