import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Difficulty } from "../../domain/common.ts"
import { Dashboard } from "../../domain/dashboard.ts"
import { BlockNotFound, InvalidInput, InvalidTransition, TaskNotFound } from "../../domain/errors.ts"
import { BlockId, TaskId } from "../../domain/ids.ts"
import { DEFAULT_DURATION_MINUTES, TaskDuration } from "../../domain/rules.ts"
import { Block, Description, EffortRating, ProofText, Task, TaskStatus, Title } from "../../domain/task.ts"
import { Overloaded } from "../errors.ts"
import { Limit, Offset } from "./Paging.ts"
import { Authentication } from "./Security.ts"

const all = { parseOptions: { errors: "all" } } as const
const TrimmedTitle = Schema.Trim.pipe(Schema.compose(Title))

export const CreateTaskRequest = Schema.Struct({
  title: TrimmedTitle,
  description: Schema.optionalWith(Description, { default: () => "" }),
  duration_minutes: Schema.optionalWith(TaskDuration, { default: () => DEFAULT_DURATION_MINUTES }),
  difficulty: Schema.optionalWith(Difficulty, { default: () => "medium" as const })
}).annotations({ identifier: "CreateTaskRequest", ...all })

/** Every field optional; difficulty and duration change only while no block has started. */
export const UpdateTaskRequest = Schema.Struct({
  title: Schema.optional(TrimmedTitle),
  description: Schema.optional(Description),
  duration_minutes: Schema.optional(TaskDuration),
  difficulty: Schema.optional(Difficulty)
}).annotations({ identifier: "UpdateTaskRequest", ...all })

export const CompleteBlockRequest = Schema.Struct({
  proof_text: Schema.optional(ProofText),
  effort_rating: Schema.optional(EffortRating)
}).annotations({ identifier: "CompleteBlockRequest", ...all })

export const TaskPage = Schema.Struct({
  items: Schema.Array(Task),
  total: Schema.Int,
  limit: Schema.Int,
  offset: Schema.Int
}).annotations({ identifier: "TaskPage" })

export const BlockResult = Schema.Struct({ task: Task, block: Block }).annotations({
  identifier: "BlockResult"
})

export const BlockCompletion = Schema.Struct({
  task: Task,
  block: Block,
  /** What the block itself paid, by the token formula. */
  tokens_earned: Schema.Int,
  /** Streak, level-up and achievement bonuses this completion unlocked. */
  bonus_tokens: Schema.Int,
  balance: Schema.Int
}).annotations({ identifier: "BlockCompletion" })

const TaskPath = Schema.Struct({ task_id: TaskId })
const BlockPath = Schema.Struct({ task_id: TaskId, block_id: BlockId })

export class TasksApi extends HttpApiGroup.make("tasks")
  .add(
    HttpApiEndpoint.post("create", "/api/v1/tasks")
      .setPayload(CreateTaskRequest)
      .addSuccess(Task, { status: 201 })
      .addError(InvalidInput)
      .annotate(OpenApi.Summary, "Create a task, cut into focus blocks by the breakdown")
  )
  .add(
    HttpApiEndpoint.get("list", "/api/v1/tasks")
      .setUrlParams(
        Schema.Struct({
          status: Schema.optional(TaskStatus),
          limit: Schema.optional(Limit),
          offset: Schema.optional(Offset)
        }).annotations(all)
      )
      .addSuccess(TaskPage)
      .annotate(
        OpenApi.Summary,
        "The user's tasks, newest first; `limit` (1-100, default 20) and `offset` page them"
      )
  )
  .add(
    HttpApiEndpoint.get("dashboard", "/api/v1/tasks/dashboard")
      .addSuccess(Dashboard)
      .annotate(OpenApi.Summary, "Active tasks, today's blocks, balance, level and streak")
  )
  .add(
    HttpApiEndpoint.get("get", "/api/v1/tasks/:task_id")
      .setPath(TaskPath)
      .addSuccess(Task)
      .addError(TaskNotFound)
      .annotate(OpenApi.Summary, "One task with its blocks")
  )
  .add(
    HttpApiEndpoint.put("update", "/api/v1/tasks/:task_id")
      .setPath(TaskPath)
      .setPayload(UpdateTaskRequest)
      .addSuccess(Task)
      .addError(TaskNotFound)
      .addError(InvalidTransition)
      .addError(InvalidInput)
      .annotate(OpenApi.Summary, "Change a task (a new duration re-cuts its blocks while none has started)")
  )
  .add(
    HttpApiEndpoint.del("delete", "/api/v1/tasks/:task_id")
      .setPath(TaskPath)
      .addError(TaskNotFound)
      .annotate(OpenApi.Summary, "Delete a task (its id is never reused)")
  )
  .add(
    HttpApiEndpoint.post("startBlock", "/api/v1/tasks/:task_id/blocks/:block_id/start")
      .setPath(BlockPath)
      .addSuccess(BlockResult)
      .addError(TaskNotFound)
      .addError(BlockNotFound)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Start a pending block (one block in progress per task)")
  )
  .add(
    HttpApiEndpoint.post("completeBlock", "/api/v1/tasks/:task_id/blocks/:block_id/complete")
      .setPath(BlockPath)
      .setPayload(CompleteBlockRequest)
      .addSuccess(BlockCompletion)
      .addError(TaskNotFound)
      .addError(BlockNotFound)
      .addError(InvalidTransition)
      .annotate(OpenApi.Summary, "Complete a block in progress: tokens are paid once per block")
  )
  .addError(Overloaded)
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Tasks") {}
