import { Clock, Context, Effect, Layer, Result, Schema, SchemaIssue } from "effect"
import { randomUUID } from "node:crypto"
import type { PlannedAction } from "../../domain/planner.ts"
import { blockNotFound, blockNotStarted, invalidInput, invalidTransition } from "../../domain/errors.ts"
import { TaskDuration } from "../../domain/rules.ts"
import { type Block, Description, Title } from "../../domain/task.ts"
import { AiOptimizer, type AiOptimizerStats } from "../../layers/ai/AiOptimizer.ts"
import { heuristicMotivation, type MotivationInput } from "../chains/builtin/motivation.ts"
import type { ProofVerdict } from "../chains/builtin/proofValidation.ts"
import { motivation, proofValidation, taskAnalysis, taskBreakdown } from "../chains/Builtins.ts"
import { ChainExecutor, type ChainInfo, type ChainResult, type ChainStats } from "../chains/ChainExecutor.ts"
import type { RunSource } from "../chains/ChainRuns.ts"
import { Memory, type MemoryStats } from "../memory/Memory.ts"
import { ActionFailure, Planner, type PlannerStats } from "../planner/Planner.ts"
import type {
  CompleteEnhancedRequest,
  CompleteEnhancedResponse,
  CreateEnhancedRequest,
  CreateEnhancedResponse,
  DailyOptimizationRequest,
  DailyOptimizationResponse,
  FocusSessionRequest,
  FocusSessionResponse,
  PlannedActionView
} from "./Schemas.ts"
import { TaskPort } from "./TaskPort.ts"
import { WorkerState, type WorkerStatus } from "./WorkerState.ts"
import { withSpan } from "../../layers/observability/spans.ts"

export interface OrchestratorStatus {
  readonly status: "operational" | "degraded"
  readonly chains: ReadonlyArray<ChainInfo>
  readonly executor: ChainStats
  readonly optimizer: AiOptimizerStats
  readonly planner: PlannerStats
  readonly memory: MemoryStats
  readonly worker: WorkerStatus
}

/**
 * The task domain's rules for a new task's fields, checked before the first chain of create-enhanced
 * runs: every chain run is recorded, so a request the domain would refuse must be refused before any
 * of them (the HTTP decoder already applies them; callers inside the process need not go through it).
 */
const checkNewTask = Schema.decodeUnknownResult(
  Schema.Struct({ title: Title, description: Description, duration_minutes: TaskDuration })
)
const formatIssue = SchemaIssue.makeFormatterDefault()

const refusedNewTask = (request: CreateEnhancedRequest) =>
  Result.match(checkNewTask(request), {
    onSuccess: () => Effect.void,
    onFailure: (error) => Effect.fail(invalidInput("task", formatIssue(error.issue)))
  })

export const actionView = (action: PlannedAction): PlannedActionView => ({
  action_id: action.action_id,
  type: action.type,
  priority: action.priority,
  status: action.status,
  depends_on: action.depends_on,
  scheduled_at: new Date(action.scheduled_at).toISOString(),
  attempts: action.attempts,
  max_attempts: action.max_attempts,
  last_error: action.last_error,
  result: action.result
})

const sourceOf = (...runs: ReadonlyArray<ChainResult<unknown>>): RunSource =>
  runs.some((run) => run.source === "heuristic") ? "heuristic" : "llm"

const refOf = (run: ChainResult<unknown>) => ({
  chain: run.chain,
  run_id: run.run_id,
  source: run.source,
  cached: run.cached
})

/**
 * The weight of a proof's bonus: its confidence when proof validation accepted it, 0 when it did not.
 * A rejected proof therefore adds nothing and, like a missing one, takes nothing away.
 */
export const proofBonusScore = (verdict: ProofVerdict): number =>
  verdict.is_valid ? Math.min(1, Math.max(0, verdict.confidence)) : 0

/**
 * A block can be completed only from in progress. Checked before any chain runs, so a refused
 * completion writes nothing (the task decider checks again when the completion is appended).
 */
const completable = (taskId: string, block: Block) =>
  block.status === "pending"
    ? Effect.fail(blockNotStarted(taskId, block.id))
    : block.status === "completed"
      ? Effect.fail(invalidTransition("block", block.status, "complete"))
      : Effect.void

/**
 * The FocusForge workflows over chains, memory, planner and the task program. Every chain has a
 * heuristic, so a workflow answers (marked `source: "heuristic"`) whenever the model does not.
 */
export const makeOrchestrator = Effect.gen(function* () {
  const executor = yield* ChainExecutor
  const memory = yield* Memory
  const planner = yield* Planner
  const tasks = yield* TaskPort
  const optimizer = yield* AiOptimizer
  const worker = yield* WorkerState

  // Built-in chains carry their own heuristics, so these runs never fail; a defect here is a bug.
  const run = <I, O>(chain: Parameters<typeof executor.run<I, O>>[0], input: I, userId: string) =>
    Effect.orDie(executor.run(chain, input, { userId }))

  const createEnhanced = (userId: string, request: CreateEnhancedRequest) =>
    Effect.gen(function* () {
      yield* refusedNewTask(request)
      // A user at MAX_OPEN_TASKS is refused before any chain runs (and stores its run).
      yield* tasks.ensureCanCreate(userId)
      const query = `${request.title} ${request.description}`
      // Independent: gathered at once; the breakdown then follows.
      const { context, similar, analysis } = yield* Effect.all(
        {
          context: memory.userContext(userId),
          similar: memory.recall(userId, query, 3),
          analysis: run(taskAnalysis, request, userId)
        },
        { concurrency: "unbounded" }
      )
      const breakdown = yield* run(taskBreakdown, request, userId)
      const task = yield* tasks.create(userId, {
        title: request.title,
        description: request.description,
        duration_minutes: request.duration_minutes,
        difficulty: request.difficulty ?? analysis.output.difficulty
      })
      const now = yield* Clock.currentTimeMillis
      const motivationId = randomUUID()
      const [, , planned] = yield* Effect.all(
        [
          memory.persist(userId, {
            kind: "task",
            content: query,
            data: {
              task_id: task.id,
              difficulty: task.difficulty,
              estimated_time: analysis.output.estimated_time
            }
          }),
          memory.remember(userId, "working", {
            kind: "task_insight",
            content: `Created "${task.title}": ${analysis.output.difficulty}, ~${analysis.output.estimated_time} min`,
            data: { task_id: task.id, obstacles: analysis.output.obstacles }
          }),
          planner.plan(userId, [
            {
              action_id: motivationId,
              type: "send_motivation",
              priority: analysis.output.success_probability < 0.6 ? "high" : "medium",
              scheduled_at: now + 5 * 60_000,
              payload: { task_id: task.id, challenge: task.title }
            },
            {
              type: "review_progress",
              priority: "low",
              depends_on: [motivationId],
              scheduled_at: now + task.duration_minutes * 60_000,
              payload: { task_id: task.id }
            }
          ])
        ],
        { concurrency: "unbounded" }
      )
      return {
        task,
        analysis: analysis.output,
        breakdown: breakdown.output,
        similar_tasks: similar.map((s) => ({ content: s.content, score: s.score, at: s.at })),
        context: context.counts,
        follow_up_actions: planned.map(actionView),
        chain_runs: [refOf(analysis), refOf(breakdown)],
        source: sourceOf(analysis, breakdown)
      } satisfies CreateEnhancedResponse
    }).pipe(withSpan("Orchestrator.createEnhanced"))

  const completeEnhanced = (userId: string, request: CompleteEnhancedRequest) =>
    Effect.gen(function* () {
      const task = yield* tasks.get(userId, request.task_id)
      const block = task.blocks.find((b) => b.id === request.block_id)
      if (block === undefined) return yield* blockNotFound(task.id, request.block_id)
      yield* completable(task.id, block)
      const accomplishments = [
        ...task.blocks.filter((b) => b.status === "completed").map((b) => b.title),
        block.title
      ]
      const motivationInput: MotivationInput = {
        mood: request.mood ?? { score: 6, energy: 5, stress: 5 },
        challenge: task.title,
        accomplishments
      }
      const proofText = request.proof_text
      // Proof and motivation do not depend on each other.
      const { proof, motivated } = yield* Effect.all(
        {
          proof:
            proofText === undefined || proofText.trim() === ""
              ? Effect.succeed(null)
              : run(
                  proofValidation,
                  { task: `${task.title} — ${block.title}`, criteria: [], proof_text: proofText },
                  userId
                ),
          motivated: run(motivation, motivationInput, userId)
        },
        { concurrency: "unbounded" }
      )
      const score = proof === null ? null : proofBonusScore(proof.output)
      const completion = yield* tasks.completeBlock(userId, task.id, block.id, {
        proof_text: proofText,
        proof_score: score ?? undefined,
        effort_rating: request.effort_rating
      })
      yield* Effect.all(
        [
          memory.remember(userId, "short_term", {
            kind: "interaction",
            content: `Completed "${block.title}" of "${task.title}" for ${completion.tokens_earned} tokens`,
            data: { task_id: task.id, block_id: block.id, proof_score: score }
          }),
          memory.persist(userId, {
            kind: "pattern",
            content: `completed block ${block.title} of ${task.title}`,
            data: { task_id: task.id, effort_rating: request.effort_rating ?? null, proof_score: score }
          })
        ],
        { concurrency: "unbounded" }
      )
      const runs = proof === null ? [motivated] : [proof, motivated]
      return {
        task: completion.task,
        block: completion.block,
        tokens_earned: completion.tokens_earned,
        pay: completion.pay,
        balance: completion.balance ?? null,
        proof: proof?.output ?? null,
        proof_score: score,
        motivation: motivated.output,
        chain_runs: runs.map(refOf),
        source: sourceOf(...runs)
      } satisfies CompleteEnhancedResponse
    }).pipe(withSpan("Orchestrator.completeEnhanced"))

  const dailyOptimization = (userId: string, request: DailyOptimizationRequest) =>
    Effect.gen(function* () {
      const [context, actions] = yield* Effect.all([memory.userContext(userId), planner.actions(userId)], {
        concurrency: "unbounded"
      })
      const wins = context.short_term.filter((e) => e.kind === "interaction").map((e) => e.content)
      const pending = actions.filter((a) => a.status === "pending" || a.status === "in_progress")
      const motivated = yield* run(
        motivation,
        {
          mood: request.mood ?? { score: 6, energy: 5, stress: 5 },
          challenge: "today's plan",
          accomplishments: wins
        },
        userId
      )
      const now = yield* Clock.currentTimeMillis
      const planned = yield* planner.plan(userId, [
        { type: "daily_review", priority: "low", scheduled_at: now + 24 * 3_600_000, payload: {} }
      ])
      const recommendations = [
        ...(pending.length > 5 ? ["Many follow-ups are waiting: clear the critical ones first"] : []),
        ...((request.mood?.stress ?? 5) >= 7 ? ["Plan shorter blocks and longer breaks today"] : []),
        ...motivated.output.suggested_actions
      ]
      return {
        summary: `${wins.length} recent completion(s), ${context.counts.working} working note(s), ${pending.length} pending follow-up(s).`,
        recommendations,
        motivation: motivated.output,
        pending_actions: pending.map(actionView),
        recent_memory: context.short_term.slice(-10),
        planned: planned.map(actionView),
        source: motivated.source
      } satisfies DailyOptimizationResponse
    }).pipe(withSpan("Orchestrator.dailyOptimization"))

  const focusSession = (userId: string, request: FocusSessionRequest) =>
    Effect.gen(function* () {
      const task = request.task_id === undefined ? null : yield* tasks.get(userId, request.task_id)
      const motivated = yield* run(
        motivation,
        {
          mood: request.mood ?? { score: 6, energy: 5, stress: 5 },
          challenge: request.challenge ?? task?.title ?? "",
          accomplishments: []
        },
        userId
      )
      const now = yield* Clock.currentTimeMillis
      const sessionId = randomUUID()
      const endsAt = now + request.duration_minutes * 60_000
      const [, planned] = yield* Effect.all(
        [
          memory.remember(userId, "working", {
            kind: "interaction",
            content: `Focus session of ${request.duration_minutes} min${task ? ` on "${task.title}"` : ""}`,
            data: { session_id: sessionId, task_id: task?.id ?? null }
          }),
          planner.plan(userId, [
            {
              type: "focus_check_in",
              priority: "high",
              scheduled_at: endsAt,
              payload: { session_id: sessionId, task_id: task?.id ?? null }
            }
          ])
        ],
        { concurrency: "unbounded" }
      )
      const checkIn = planned[0]
      if (checkIn === undefined) return yield* Effect.die(new Error("focus check-in was not planned"))
      return {
        session_id: sessionId,
        task_id: task?.id ?? null,
        duration_minutes: request.duration_minutes,
        started_at: new Date(now).toISOString(),
        ends_at: new Date(endsAt).toISOString(),
        motivation: motivated.output,
        check_in: actionView(checkIn),
        source: motivated.source
      } satisfies FocusSessionResponse
    }).pipe(withSpan("Orchestrator.focusSession"))

  const status = Effect.gen(function* () {
    const [chains, executorStats, optimizerStats, plannerStats, memoryStats, workerStatus] =
      yield* Effect.all([
        executor.chains,
        executor.stats,
        optimizer.stats,
        planner.stats,
        memory.stats,
        worker.get
      ])
    return {
      status: optimizerStats.breaker.state === "closed" ? "operational" : "degraded",
      chains,
      executor: executorStats,
      optimizer: optimizerStats,
      planner: plannerStats,
      memory: memoryStats,
      worker: workerStatus
    } satisfies OrchestratorStatus
  })

  // --- follow-up actions the workflows plan; they run on the worker's planner tick.
  const asFailure = (message: string) => new ActionFailure({ message })
  yield* planner.handle("send_motivation", (action) =>
    Effect.gen(function* () {
      const payload = (action.payload ?? {}) as { readonly challenge?: string }
      const input: MotivationInput = {
        mood: { score: 6, energy: 5, stress: 5 },
        challenge: payload.challenge ?? "",
        accomplishments: []
      }
      const result = yield* executor.run(motivation, input, { userId: action.user_id }).pipe(
        Effect.map((r) => r.output),
        Effect.orElseSucceed(() => heuristicMotivation(input))
      )
      yield* memory.remember(action.user_id, "short_term", { kind: "interaction", content: result.message })
      return { message: result.message, tone: result.tone }
    })
  )
  yield* planner.handle("review_progress", (action) =>
    Effect.gen(function* () {
      const payload = (action.payload ?? {}) as { readonly task_id?: string }
      if (payload.task_id === undefined) return yield* asFailure("review_progress needs a task_id")
      const task = yield* tasks
        .get(action.user_id, payload.task_id)
        .pipe(Effect.mapError((e) => asFailure(e._tag)))
      const done = task.blocks.filter((b) => b.status === "completed").length
      yield* memory.persist(action.user_id, {
        kind: "pattern",
        content: `progress on ${task.title}: ${done}/${task.blocks.length} blocks`,
        data: { task_id: task.id, done, total: task.blocks.length }
      })
      return { done, total: task.blocks.length }
    })
  )
  yield* planner.handle("focus_check_in", (action) =>
    Effect.as(
      memory.remember(action.user_id, "short_term", {
        kind: "interaction",
        content: "Focus session ended: how did it go?"
      }),
      { checked_in: true }
    )
  )
  yield* planner.handle("daily_review", (action) =>
    Effect.map(memory.userContext(action.user_id), (context) => ({ counts: context.counts }))
  )

  return { createEnhanced, completeEnhanced, dailyOptimization, focusSession, status } as const
})

export class Orchestrator extends Context.Service<Orchestrator, Effect.Success<typeof makeOrchestrator>>()(
  "Orchestrator"
) {}

export const OrchestratorLive = Layer.effect(Orchestrator, makeOrchestrator)
