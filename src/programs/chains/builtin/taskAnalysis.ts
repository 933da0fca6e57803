import { Effect, Schema } from "effect"
import { Difficulty } from "../../../domain/common.ts"
import { TaskDuration } from "../../../domain/rules.ts"
import * as Chain from "../Chain.ts"
import { retryMalformedOnce } from "../Retry.ts"
import { complexityOf, words } from "./text.ts"

export const AnalysisInput = Schema.Struct({
  title: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)),
  description: Schema.String.check(Schema.isMaxLength(5000)).pipe(
    Schema.withDecodingDefaultTypeKey(Effect.succeed(""))
  ),
  duration_minutes: TaskDuration.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(25)))
})
export type AnalysisInput = typeof AnalysisInput.Type

export const Analysis = Schema.Struct({
  difficulty: Difficulty,
  /** Minutes the task is likely to take, all adjustments included. */
  estimated_time: Schema.Int.check(Schema.isGreaterThan(0)),
  required_skills: Schema.Array(Schema.String),
  obstacles: Schema.Array(Schema.String),
  success_probability: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  /** How far the stated duration is likely off (1.2 = 20% longer). */
  time_adjustment_factor: Schema.Number.check(Schema.isBetween({ minimum: 0.5, maximum: 3 }))
})
export type Analysis = typeof Analysis.Type

const SKILLS: ReadonlyArray<readonly [string, string]> = [
  ["code", "programming"],
  ["write", "writing"],
  ["report", "writing"],
  ["design", "design"],
  ["study", "learning"],
  ["learn", "learning"],
  ["email", "communication"],
  ["meeting", "communication"],
  ["data", "analysis"],
  ["research", "research"]
]

export const heuristicTaskAnalysis = (input: AnalysisInput): Analysis => {
  const complexity = complexityOf(input.title, input.description, input.duration_minutes)
  const difficulty = complexity >= 7 ? "high" : complexity >= 4 ? "medium" : "low"
  const factor = difficulty === "high" ? 1.3 : difficulty === "medium" ? 1.1 : 1
  const text = words(`${input.title} ${input.description}`).join(" ")
  const skills = [...new Set(SKILLS.filter(([word]) => text.includes(word)).map(([, skill]) => skill))]
  return {
    difficulty,
    estimated_time: Math.max(1, Math.round(input.duration_minutes * factor)),
    required_skills: skills.length > 0 ? skills : ["focus"],
    obstacles: [
      ...(input.duration_minutes > 90 ? ["fatigue over a long session"] : []),
      ...(input.description.trim() === "" ? ["the goal is not described yet"] : []),
      "interruptions"
    ],
    success_probability: difficulty === "high" ? 0.6 : difficulty === "medium" ? 0.75 : 0.85,
    time_adjustment_factor: factor
  }
}

export const taskAnalysis = Chain.make({
  name: "task_analysis",
  description: "Judges a task's difficulty, real duration, skills, obstacles and odds of success.",
  input: AnalysisInput,
  output: Analysis,
  retry: retryMalformedOnce,
  flow: Chain.prompt({
    name: "analyse",
    input: AnalysisInput,
    output: Analysis,
    system:
      "You analyse tasks for a focus app. Answer JSON: {difficulty: low|medium|high, estimated_time (minutes), " +
      "required_skills:[], obstacles:[], success_probability (0-1), time_adjustment_factor (0.5-3)}.",
    prompt: (task) =>
      `Task: ${task.title}\nDescription: ${task.description || "(none)"}\nPlanned: ${task.duration_minutes} minutes`,
    heuristic: heuristicTaskAnalysis
  })
})
