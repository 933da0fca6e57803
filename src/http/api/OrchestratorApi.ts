import { Schema, Struct } from "effect"
import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import {
  BlockNotFound,
  BlockNotStarted,
  InvalidInput,
  InvalidTransition,
  TaskNotFound
} from "../../domain/errors.ts"
import { BlockId, TaskId } from "../../domain/ids.ts"
import { MemoryEntry, MemoryKind } from "../../domain/memory.ts"
import { TooManyOpenTasks } from "../../domain/taskQuota.ts"
import { motivation, proofValidation, taskAnalysis, taskBreakdown } from "../../programs/chains/Builtins.ts"
import { ChainRunView, ChainStepCompleted, RunSource } from "../../programs/chains/ChainRuns.ts"
import {
  CompleteEnhancedRequest,
  CompleteEnhancedResponse,
  CreateEnhancedRequest,
  CreateEnhancedResponse,
  DailyOptimizationRequest,
  DailyOptimizationResponse,
  FocusSessionRequest,
  FocusSessionResponse,
  PlannedActionView
} from "../../programs/orchestrator/Schemas.ts"
import { NotFound, Overloaded } from "../errors.ts"
import { Authentication } from "./Security.ts"

const envelope = { message: Schema.String, details: Schema.optional(Schema.Unknown) }

export class ChainInputRejected extends Schema.TaggedError<ChainInputRejected>()(
  "ChainInputRejected",
  envelope,
  {
    httpApiStatus: 422,
    description: "The input does not fit the chain's input Schema"
  }
) {}

export class ChainRunFailed extends Schema.TaggedError<ChainRunFailed>()("ChainRunFailed", envelope, {
  httpApiStatus: 502,
  description: "A step failed and the chain has no heuristic for it"
}) {}

export const ChainExecution = Schema.Struct({
  run_id: Schema.String,
  chain: Schema.String,
  output: Schema.Unknown,
  source: RunSource,
  cached: Schema.Boolean,
  duration_ms: Schema.Number,
  steps: Schema.Array(ChainStepCompleted.mapFields(Struct.omit(["_tag"])))
}).annotate({ identifier: "ChainExecution" })

export const UserContextResponse = Schema.Struct({
  user_id: Schema.String,
  short_term: Schema.Array(MemoryEntry),
  working: Schema.Array(MemoryEntry),
  long_term: Schema.Array(
    Schema.Struct({
      id: Schema.String,
      kind: MemoryKind,
      content: Schema.String,
      data: Schema.optionalKey(Schema.Unknown),
      at: Schema.String
    })
  ),
  counts: Schema.Struct({ short_term: Schema.Number, working: Schema.Number, long_term: Schema.Number })
}).annotate({ identifier: "UserContext" })

export const PlannerExecution = Schema.Struct({
  report: Schema.Struct({
    worker: Schema.String,
    claimed: Schema.Number,
    completed: Schema.Number,
    retried: Schema.Number,
    failed: Schema.Number,
    cancelled: Schema.Number,
    lost: Schema.Number
  }),
  actions: Schema.Array(PlannedActionView)
}).annotate({ identifier: "PlannerExecution" })

export const OrchestratorStatusResponse = Schema.Struct({
  status: Schema.Literals(["operational", "degraded"]),
  chains: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      description: Schema.String,
      version: Schema.Number,
      steps: Schema.Array(Schema.Struct({ name: Schema.String, version: Schema.Number }))
    })
  ),
  // The details below are for the operator: with METRICS_TOKEN set, only its bearer sees them.
  executor: Schema.optionalKey(Schema.Unknown),
  optimizer: Schema.optionalKey(Schema.Unknown),
  planner: Schema.optionalKey(Schema.Unknown),
  memory: Schema.optionalKey(Schema.Unknown),
  worker: Schema.optionalKey(Schema.Unknown)
}).annotate({ identifier: "OrchestratorStatus" })

const CompleteEnhancedPayload = Schema.Struct({
  ...CompleteEnhancedRequest.fields,
  task_id: TaskId,
  block_id: BlockId
})

const STATUS_SUMMARY =
  "Status and chains registered; with METRICS_TOKEN set, executor and optimizer stats, planner queue, memory sizes and worker state only for its bearer"

/**
 * The chains `ChainsLive` registers (src/programs/chains/Builtins.ts), each documented as its own path of
 * the chain endpoint with its input and output schemas (src/http/openapi.ts). test/openapi.lint.test.ts
 * checks the list against the chains the running server reports.
 */
export const DocumentedChains = [taskBreakdown, taskAnalysis, motivation, proofValidation] as const

/** Workflows and introspection of the Memory-Chain-Planner, all acting as the token's user. */
export class OrchestratorApi extends HttpApiGroup.make("orchestrator")
  .add(
    HttpApiEndpoint.post("createEnhanced", "/api/v1/orchestrator/tasks/create-enhanced", {
      payload: CreateEnhancedRequest,
      success: CreateEnhancedResponse,
      error: [InvalidInput, TooManyOpenTasks, Overloaded]
    }).annotate(OpenApi.Summary, "Create a task with analysis, similar tasks, an AI breakdown and follow-ups")
  )
  .add(
    HttpApiEndpoint.post("completeEnhanced", "/api/v1/orchestrator/tasks/complete-enhanced", {
      payload: CompleteEnhancedPayload,
      success: CompleteEnhancedResponse,
      error: [TaskNotFound, BlockNotFound, BlockNotStarted, InvalidTransition, Overloaded]
    }).annotate(
      OpenApi.Summary,
      "Complete a started block: paid by server time since its start, a validated proof adds up to 30 % (paid once), motivation"
    )
  )
  .add(
    HttpApiEndpoint.post("dailyOptimization", "/api/v1/orchestrator/daily-optimization", {
      payload: DailyOptimizationRequest,
      success: DailyOptimizationResponse,
      error: Overloaded
    }).annotate(OpenApi.Summary, "Today's summary, recommendations and motivation")
  )
  .add(
    HttpApiEndpoint.post("focusSession", "/api/v1/orchestrator/focus-session", {
      payload: FocusSessionRequest,
      success: FocusSessionResponse,
      error: [TaskNotFound, Overloaded]
    }).annotate(OpenApi.Summary, "Start a focus session with a motivation and a planned check-in")
  )
  .add(
    HttpApiEndpoint.post("executeChain", "/api/v1/orchestrator/chains/execute/:chain_name", {
      params: { chain_name: Schema.String },
      payload: Schema.Unknown,
      success: ChainExecution,
      error: [NotFound, ChainInputRejected, ChainRunFailed, Overloaded]
    }).annotate(OpenApi.Summary, "Run a registered chain on a JSON input")
  )
  .add(
    HttpApiEndpoint.get("chainRun", "/api/v1/orchestrator/chain-runs/:run_id", {
      params: { run_id: Schema.String },
      success: ChainRunView,
      error: [NotFound, Overloaded]
    }).annotate(OpenApi.Summary, "One chain run: its steps, sources and durations")
  )
  .add(
    HttpApiEndpoint.get("userContext", "/api/v1/orchestrator/memory/user-context", {
      success: UserContextResponse,
      error: Overloaded
    }).annotate(OpenApi.Summary, "The user's short-term, working and recent long-term memory")
  )
  .add(
    HttpApiEndpoint.get("plannerActions", "/api/v1/orchestrator/planner/actions", {
      success: Schema.Array(PlannedActionView),
      error: Overloaded
    }).annotate(OpenApi.Summary, "The user's planned actions, newest first")
  )
  .add(
    HttpApiEndpoint.post("plannerExecute", "/api/v1/orchestrator/planner/execute", {
      success: PlannerExecution,
      error: Overloaded
    }).annotate(OpenApi.Summary, "Run the user's ready actions now, in priority order")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Orchestrator")
  .annotate(
    OpenApi.Description,
    "The Memory-Chain-Planner core: AI-assisted task workflows, registered chains, memory tiers and the planner of follow-up actions."
  ) {}

/** Public: the orchestrator's parts and their state, no user data. */
export class OrchestratorStatusApi extends HttpApiGroup.make("orchestratorStatus")
  .add(
    HttpApiEndpoint.get("status", "/orchestrator/status", { success: OrchestratorStatusResponse }).annotate(
      OpenApi.Summary,
      STATUS_SUMMARY
    )
  )
  .add(
    HttpApiEndpoint.get("statusV1", "/api/v1/orchestrator/status", {
      success: OrchestratorStatusResponse
    }).annotate(OpenApi.Summary, STATUS_SUMMARY)
  )
  .annotate(OpenApi.Title, "Orchestrator status")
  .annotate(
    OpenApi.Description,
    "Status of the orchestrator and its registered chains; the details only for the METRICS_TOKEN bearer when it is set."
  ) {}
