import { Effect, Layer } from "effect"
import { ChainExecutor, ChainExecutorBase } from "./ChainExecutor.ts"
import { motivation } from "./builtin/motivation.ts"
import { proofValidation } from "./builtin/proofValidation.ts"
import { taskAnalysis } from "./builtin/taskAnalysis.ts"
import { taskBreakdown } from "./builtin/taskBreakdown.ts"

export { motivation, proofValidation, taskAnalysis, taskBreakdown }

/** The executor with FocusForge's chains registered. */
export const ChainsLive = Layer.effectDiscard(
  Effect.flatMap(ChainExecutor, (executor) =>
    Effect.all([
      executor.register(taskBreakdown),
      executor.register(taskAnalysis),
      executor.register(motivation),
      executor.register(proofValidation)
    ]).pipe(Effect.orDie)
  )
).pipe(Layer.provideMerge(ChainExecutorBase))
