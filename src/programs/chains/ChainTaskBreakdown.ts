import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { BlockId } from "../../domain/ids.ts"
import { heuristicBlockPlans } from "../../domain/task.ts"
import { TaskBreakdown } from "../taskBreakdown.ts"
import { taskBreakdown } from "./builtin/taskBreakdown.ts"
import { ChainExecutor } from "./ChainExecutor.ts"

/**
 * The task program's breakdown seam, answered by the `task_breakdown` chain: the model's blocks when
 * it answers (cached 30 minutes, so create-enhanced and the task it creates agree), the heuristic
 * `max(1, round(d/25))` blocks otherwise.
 */
export const ChainTaskBreakdown = Layer.effect(
  TaskBreakdown,
  Effect.map(ChainExecutor, (executor) => ({
    plan: (request) =>
      executor
        .run(taskBreakdown, {
          title: request.title,
          description: request.description,
          duration_minutes: request.duration_minutes
        })
        .pipe(
          Effect.map((result) =>
            result.output.blocks.map((block) => ({
              block_id: BlockId.make(randomUUID()),
              title: block.title.trim().slice(0, 200) || request.title,
              duration_minutes: block.duration_minutes
            }))
          ),
          Effect.catch(() =>
            Effect.sync(() =>
              heuristicBlockPlans(request.title, request.duration_minutes, () => BlockId.make(randomUUID()))
            )
          )
        )
  }))
)
