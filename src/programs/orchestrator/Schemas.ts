import { Effect, Schema } from "effect"
import { Difficulty } from "../../domain/common.ts"
import { MemoryEntry } from "../../domain/memory.ts"
import { Priority } from "../../domain/planner.ts"
import { BlockPay, TaskDuration } from "../../domain/rules.ts"
import { Block, Description, Task, Title } from "../../domain/task.ts"
import { Analysis } from "../chains/builtin/taskAnalysis.ts"
import { Breakdown } from "../chains/builtin/taskBreakdown.ts"
import { Motivation } from "../chains/builtin/motivation.ts"
import { ProofVerdict } from "../chains/builtin/proofValidation.ts"
import { RunSource } from "../chains/ChainRuns.ts"

/** Request and response shapes of the orchestrator workflows (the HTTP contract reuses them). */

const Scale = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 }))
export const MoodSnapshot = Schema.Struct({
  score: Scale,
  energy: Scale.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(5))),
  stress: Scale.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(5)))
})

/**
 * The fields of a new task under the task domain's own schemas, so a request the domain would refuse
 * is refused when it is decoded, before any chain runs and records its run. The title is trimmed
 * first, as `POST /api/v1/tasks` does.
 */
export const NewTaskFields = {
  title: Schema.Trim.pipe(Schema.decodeTo(Title)),
  description: Description.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(""))),
  duration_minutes: TaskDuration.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(25)))
}

export const CreateEnhancedRequest = Schema.Struct({
  ...NewTaskFields,
  difficulty: Schema.optionalKey(Difficulty)
})
export type CreateEnhancedRequest = typeof CreateEnhancedRequest.Type

export const SimilarTask = Schema.Struct({ content: Schema.String, score: Schema.Number, at: Schema.String })

export const PlannedActionView = Schema.Struct({
  action_id: Schema.String,
  type: Schema.String,
  priority: Priority,
  status: Schema.String,
  depends_on: Schema.Array(Schema.String),
  scheduled_at: Schema.String,
  attempts: Schema.Number,
  max_attempts: Schema.Number,
  last_error: Schema.NullOr(Schema.String),
  result: Schema.Unknown
}).annotate({ identifier: "PlannedAction" })
export type PlannedActionView = typeof PlannedActionView.Type

export const ChainRunRef = Schema.Struct({
  chain: Schema.String,
  run_id: Schema.String,
  source: RunSource,
  cached: Schema.Boolean
})

export const CreateEnhancedResponse = Schema.Struct({
  task: Task,
  analysis: Analysis,
  breakdown: Breakdown,
  similar_tasks: Schema.Array(SimilarTask),
  context: Schema.Struct({ short_term: Schema.Number, working: Schema.Number, long_term: Schema.Number }),
  follow_up_actions: Schema.Array(PlannedActionView),
  chain_runs: Schema.Array(ChainRunRef),
  source: RunSource
})
export type CreateEnhancedResponse = typeof CreateEnhancedResponse.Type

export const CompleteEnhancedRequest = Schema.Struct({
  task_id: Schema.String,
  block_id: Schema.String,
  proof_text: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(5000))),
  effort_rating: Schema.optionalKey(Scale),
  mood: Schema.optionalKey(MoodSnapshot)
})
export type CompleteEnhancedRequest = typeof CompleteEnhancedRequest.Type

export const CompleteEnhancedResponse = Schema.Struct({
  task: Task,
  block: Block,
  /** What the block paid in all: the pay for the time spent plus the proof bonus. */
  tokens_earned: Schema.Number,
  /** Why it paid that: server time spent against the plan, and the proof bonus. */
  pay: BlockPay,
  balance: Schema.NullOr(Schema.Number),
  proof: Schema.NullOr(ProofVerdict),
  /** The proof bonus's weight: the verdict's confidence when valid, 0 when rejected; null without proof. */
  proof_score: Schema.NullOr(Schema.Number),
  motivation: Motivation,
  chain_runs: Schema.Array(ChainRunRef),
  source: RunSource
})
export type CompleteEnhancedResponse = typeof CompleteEnhancedResponse.Type

export const DailyOptimizationRequest = Schema.Struct({ mood: Schema.optionalKey(MoodSnapshot) })
export type DailyOptimizationRequest = typeof DailyOptimizationRequest.Type

export const DailyOptimizationResponse = Schema.Struct({
  summary: Schema.String,
  recommendations: Schema.Array(Schema.String),
  motivation: Motivation,
  pending_actions: Schema.Array(PlannedActionView),
  recent_memory: Schema.Array(MemoryEntry),
  planned: Schema.Array(PlannedActionView),
  source: RunSource
})
export type DailyOptimizationResponse = typeof DailyOptimizationResponse.Type

export const FocusSessionRequest = Schema.Struct({
  task_id: Schema.optionalKey(Schema.String),
  duration_minutes: Schema.Int.check(Schema.isBetween({ minimum: 5, maximum: 180 })).pipe(
    Schema.withDecodingDefaultTypeKey(Effect.succeed(25))
  ),
  challenge: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(2000))),
  mood: Schema.optionalKey(MoodSnapshot)
})
export type FocusSessionRequest = typeof FocusSessionRequest.Type

export const FocusSessionResponse = Schema.Struct({
  session_id: Schema.String,
  task_id: Schema.NullOr(Schema.String),
  duration_minutes: Schema.Number,
  started_at: Schema.String,
  ends_at: Schema.String,
  motivation: Motivation,
  check_in: PlannedActionView,
  source: RunSource
})
export type FocusSessionResponse = typeof FocusSessionResponse.Type
