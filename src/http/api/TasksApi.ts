import { Effect, Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { Difficulty } from "../../domain/common.ts"
import { Dashboard } from "../../domain/dashboard.ts"
import {
  BlockNotFound,
  BlockNotStarted,
  InvalidInput,
  InvalidTransition,
  TaskNotFound
} from "../../domain/errors.ts"
import { BlockId, TaskId } from "../../domain/ids.ts"
import { BlockPay, DEFAULT_DURATION_MINUTES, TaskDuration } from "../../domain/rules.ts"
import { Block, Description, EffortRating, ProofText, Task, TaskStatus, Title } from "../../domain/task.ts"
import { TooManyOpenTasks } from "../../domain/taskQuota.ts"
import { Overloaded } from "../errors.ts"
import { Limit, Offset } from "./Paging.ts"
import { Authentication } from "./Security.ts"

const TrimmedTitle = Schema.Trim.pipe(Schema.decodeTo(Title))

export const CreateTaskRequest = Schema.Struct({
  title: TrimmedTitle,
  description: Description.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(""))),
  duration_minutes: TaskDuration.pipe(
    Schema.withDecodingDefaultTypeKey(Effect.succeed(DEFAULT_DURATION_MINUTES))
  ),
  difficulty: Difficulty.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed("medium" as const)))
}).annotate({ identifier: "CreateTaskRequest" })

/** Every field optional; difficulty and duration change only while no block has started. */
export const UpdateTaskRequest = Schema.Struct({
  title: Schema.optionalKey(TrimmedTitle),
  description: Schema.optionalKey(Description),
  duration_minutes: Schema.optionalKey(TaskDuration),
  difficulty: Schema.optionalKey(Difficulty)
}).annotate({ identifier: "UpdateTaskRequest" })

export const CompleteBlockRequest = Schema.Struct({
  proof_text: Schema.optionalKey(ProofText),
  effort_rating: Schema.optionalKey(EffortRating)
}).annotate({ identifier: "CompleteBlockRequest" })

export const TaskPage = Schema.Struct({
  items: Schema.Array(Task),
  total: Schema.Int,
  limit: Schema.Int,
  offset: Schema.Int
}).annotate({ identifier: "TaskPage" })

export const BlockResult = Schema.Struct({ task: Task, block: Block }).annotate({
  identifier: "BlockResult"
})

export const BlockCompletion = Schema.Struct({
  task: Task,
  block: Block,
  /** What the block itself paid, by the pay rule (server time since its start, plus any proof bonus). */
  tokens_earned: Schema.Int,
  /** Why it paid that: full, partial (under 80 % of the plan) or too short (under a minute). */
  pay: BlockPay,
  /** Streak, level-up and achievement bonuses this completion unlocked. */
  bonus_tokens: Schema.Int,
  balance: Schema.Int
}).annotate({ identifier: "BlockCompletion" })

const TaskPath = { task_id: TaskId }
const BlockPath = { task_id: TaskId, block_id: BlockId }

export class TasksApi extends HttpApiGroup.make("tasks")
  .add(
    HttpApiEndpoint.post("create", "/api/v1/tasks", {
      payload: CreateTaskRequest,
      success: Task.pipe(HttpApiSchema.status(201)),
      error: [InvalidInput, TooManyOpenTasks, Overloaded]
    }).annotate(
      OpenApi.Summary,
      "Create a task, cut into focus blocks by the breakdown (409 `TooManyOpenTasks` at MAX_OPEN_TASKS)"
    )
  )
  .add(
    HttpApiEndpoint.get("list", "/api/v1/tasks", {
      query: {
        status: Schema.optional(TaskStatus),
        limit: Schema.optional(Limit),
        offset: Schema.optional(Offset)
      },
      success: TaskPage,
      error: Overloaded
    }).annotate(
      OpenApi.Summary,
      "The user's tasks, newest first; `limit` (1-100, default 20) and `offset` page them"
    )
  )
  .add(
    HttpApiEndpoint.get("dashboard", "/api/v1/tasks/dashboard", {
      success: Dashboard,
      error: Overloaded
    }).annotate(
      OpenApi.Summary,
      "Active tasks and today's blocks (at most 50 each, with totals), balance, level and streak"
    )
  )
  .add(
    HttpApiEndpoint.get("get", "/api/v1/tasks/:task_id", {
      params: TaskPath,
      success: Task,
      error: [TaskNotFound, Overloaded]
    }).annotate(OpenApi.Summary, "One task with its blocks")
  )
  .add(
    HttpApiEndpoint.put("update", "/api/v1/tasks/:task_id", {
      params: TaskPath,
      payload: UpdateTaskRequest,
      success: Task,
      error: [TaskNotFound, InvalidTransition, InvalidInput, Overloaded]
    }).annotate(OpenApi.Summary, "Change a task (a new duration re-cuts its blocks while none has started)")
  )
  .add(
    HttpApiEndpoint.delete("delete", "/api/v1/tasks/:task_id", {
      params: TaskPath,
      error: [TaskNotFound, Overloaded]
    }).annotate(OpenApi.Summary, "Delete a task (its id is never reused)")
  )
  .add(
    HttpApiEndpoint.post("startBlock", "/api/v1/tasks/:task_id/blocks/:block_id/start", {
      params: BlockPath,
      success: BlockResult,
      error: [TaskNotFound, BlockNotFound, InvalidTransition, Overloaded]
    }).annotate(OpenApi.Summary, "Start a pending block (one block in progress per task)")
  )
  .add(
    HttpApiEndpoint.post("completeBlock", "/api/v1/tasks/:task_id/blocks/:block_id/complete", {
      params: BlockPath,
      payload: CompleteBlockRequest,
      success: BlockCompletion,
      error: [TaskNotFound, BlockNotFound, BlockNotStarted, InvalidTransition, Overloaded]
    }).annotate(
      OpenApi.Summary,
      "Complete a block in progress: paid once, by server time since its start (full from 80 % of the plan)"
    )
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Tasks")
  .annotate(
    OpenApi.Description,
    "Tasks cut into 25-minute focus blocks; starting and completing blocks earns tokens."
  ) {}
