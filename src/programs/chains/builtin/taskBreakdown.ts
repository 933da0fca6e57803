import { Effect, Schema } from "effect"
import { heuristicBreakdown, TaskDuration } from "../../../domain/rules.ts"
import * as Chain from "../Chain.ts"
import { retryMalformedOnce } from "../Retry.ts"
import { complexityOf } from "./text.ts"

export const BreakdownInput = Schema.Struct({
  title: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)),
  description: Schema.String.check(Schema.isMaxLength(5000)).pipe(
    Schema.withDecodingDefaultTypeKey(Effect.succeed(""))
  ),
  duration_minutes: TaskDuration.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(25)))
})
export type BreakdownInput = typeof BreakdownInput.Type

export const BreakdownBlock = Schema.Struct({
  title: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)),
  objectives: Schema.Array(Schema.String),
  duration_minutes: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 120 })),
  success_criteria: Schema.Array(Schema.String)
})

export const Breakdown = Schema.Struct({
  blocks: Schema.Array(BreakdownBlock).check(Schema.isMinLength(1), Schema.isMaxLength(24)),
  total_duration_minutes: Schema.Int,
  complexity_score: Schema.Number.check(Schema.isBetween({ minimum: 1, maximum: 10 })),
  recommendations: Schema.Array(Schema.String)
})
export type Breakdown = typeof Breakdown.Type

/** `max(1, round(d/25))` blocks of the domain's heuristic, with generic objectives. */
export const heuristicTaskBreakdown = (input: BreakdownInput): Breakdown => {
  const minutes = heuristicBreakdown(input.duration_minutes)
  const name = input.title.trim().slice(0, 170).trim() || "Focus"
  return {
    blocks: minutes.map((duration_minutes, i) => ({
      title: `${name} — block ${i + 1}/${minutes.length}`,
      objectives:
        i === 0
          ? [`Clarify the goal of "${name}"`, "Start on the first concrete piece"]
          : [`Advance "${name}"`],
      duration_minutes,
      success_criteria: [
        i === minutes.length - 1
          ? "The task is done or its next step is written down"
          : "Visible progress saved"
      ]
    })),
    total_duration_minutes: input.duration_minutes,
    complexity_score: complexityOf(input.title, input.description, input.duration_minutes),
    recommendations: ["Take the 5-minute break between blocks", "Silence notifications during each block"]
  }
}

/** Whatever the model proposes, the total is recomputed from the blocks it returned. */
const ModelBreakdown = Schema.Struct({
  blocks: Breakdown.fields.blocks,
  complexity_score: Breakdown.fields.complexity_score,
  recommendations: Breakdown.fields.recommendations
})

export const taskBreakdown = Chain.make({
  name: "task_breakdown",
  description: "Cuts a task into 25–45 minute focus blocks with objectives and success criteria.",
  input: BreakdownInput,
  output: Breakdown,
  retry: retryMalformedOnce,
  flow: Chain.map(
    Chain.prompt({
      name: "plan_blocks",
      input: BreakdownInput,
      output: ModelBreakdown,
      system:
        "You plan focused work. Split the task into blocks of 25 to 45 minutes (5-minute breaks between them) " +
        "whose durations add up to the task's duration. Answer JSON: {blocks:[{title, objectives:[], " +
        "duration_minutes, success_criteria:[]}], complexity_score (1-10), recommendations:[]}.",
      prompt: (task) =>
        `Task: ${task.title}\nDescription: ${task.description || "(none)"}\nDuration: ${task.duration_minutes} minutes`,
      heuristic: (task) => heuristicTaskBreakdown(task)
    }),
    (plan) => ({
      ...plan,
      total_duration_minutes: plan.blocks.reduce((sum, block) => sum + block.duration_minutes, 0)
    })
  )
})
