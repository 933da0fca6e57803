import { Context, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import type { Difficulty } from "../domain/common.ts"
import { BlockId } from "../domain/ids.ts"
import { type BlockPlan, heuristicBlockPlans } from "../domain/task.ts"

export interface BreakdownRequest {
  readonly title: string
  readonly description: string
  readonly duration_minutes: number
  readonly difficulty: Difficulty
}

/**
 * How a task is cut into focus blocks: the one seam through which the `task_breakdown` AI chain will
 * take over. Whatever it proposes, the task decider still checks the plan (1–24 blocks of 1–120 min).
 */
export class TaskBreakdown extends Context.Service<
  TaskBreakdown,
  { readonly plan: (request: BreakdownRequest) => Effect.Effect<ReadonlyArray<BlockPlan>> }
>()("TaskBreakdown") {}

/** `max(1, round(d/25))` blocks sharing the duration, each with a fresh id. */
export const HeuristicTaskBreakdown = Layer.succeed(TaskBreakdown, {
  plan: (request) =>
    Effect.sync(() =>
      heuristicBlockPlans(request.title, request.duration_minutes, () => BlockId.make(randomUUID()))
    )
})
