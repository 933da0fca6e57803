import { Layer } from "effect"
import { ChainsLive } from "../chains/Builtins.ts"
import { MemoryLive } from "../memory/Memory.ts"
import { PlannerLive } from "../planner/Planner.ts"
import { OrchestratorLive } from "./Orchestrator.ts"

/**
 * Chains (executor + built-ins), memory, planner and the workflows over them. Needs the task program
 * (`TaskPort`), the worker state, the language model, the optimizer, the cache, the event store and
 * the metrics registry.
 */
export const MemoryChainPlannerLive = OrchestratorLive.pipe(
  Layer.provideMerge(Layer.mergeAll(MemoryLive, PlannerLive)),
  Layer.provideMerge(ChainsLive)
)
