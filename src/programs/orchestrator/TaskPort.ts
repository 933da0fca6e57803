import { Context, type Effect } from "effect"
import type { Difficulty } from "../../domain/common.ts"
import type {
  BlockNotFound,
  BlockNotStarted,
  InvalidInput,
  InvalidTransition,
  TaskNotFound
} from "../../domain/errors.ts"
import type { BlockPay } from "../../domain/rules.ts"
import type { Block, Task } from "../../domain/task.ts"
import type { TooManyOpenTasks } from "../../domain/taskQuota.ts"
import type { Overloaded } from "../../eventsourcing/EntityRuntime.ts"

export interface NewTaskInput {
  readonly title: string
  readonly description: string
  readonly duration_minutes: number
  readonly difficulty: Difficulty
}

export interface BlockCompletion {
  readonly task: Task
  readonly block: Block
  readonly tokens_earned: number
  /** What the block paid and why (server time spent, proof bonus). */
  readonly pay: BlockPay
  /** The wallet's balance after the credit, when the task program reports it. */
  readonly balance?: number | undefined
}

/**
 * What the orchestrator needs of the task program: create a task (its blocks cut by the
 * `TaskBreakdown` seam), read one, complete a block with its proof score. The task decider makes a
 * block complete once, so its tokens are paid once whatever the caller retries.
 */
export interface TaskPortShape {
  readonly create: (
    userId: string,
    input: NewTaskInput
  ) => Effect.Effect<Task, InvalidInput | TooManyOpenTasks | Overloaded>
  /** Refuses a user at the open-task cap before a workflow spends chain runs on a task it cannot create. */
  readonly ensureCanCreate: (userId: string) => Effect.Effect<void, TooManyOpenTasks | Overloaded>
  readonly get: (userId: string, taskId: string) => Effect.Effect<Task, TaskNotFound | Overloaded>
  readonly startBlock: (
    userId: string,
    taskId: string,
    blockId: string
  ) => Effect.Effect<Task, TaskNotFound | BlockNotFound | InvalidTransition | Overloaded>
  readonly completeBlock: (
    userId: string,
    taskId: string,
    blockId: string,
    input: {
      readonly proof_text?: string | undefined
      readonly proof_score?: number | undefined
      readonly effort_rating?: number | undefined
    }
  ) => Effect.Effect<
    BlockCompletion,
    TaskNotFound | BlockNotFound | BlockNotStarted | InvalidTransition | Overloaded
  >
}

export class TaskPort extends Context.Service<TaskPort, TaskPortShape>()("TaskPort") {}
