import { Schema } from "effect"
import { utcDay } from "./common.ts"
import { currentStreak } from "./rules.ts"
import { Block, Task, type TaskStatus } from "./task.ts"
import type { WalletState } from "./wallet.ts"

/**
 * How many items each list of the dashboard shows at most: the answer's size must not grow with a
 * user's history (3,000 tasks once made a 37 MB dashboard). The totals say how many there are; the
 * full lists page through `GET /tasks`.
 */
export const DASHBOARD_LIST_LIMIT = 50

/**
 * What `GET /tasks/dashboard` shows, computed from the user's tasks (a projection) and wallet state.
 * "Today" is the UTC day of the request, the same day unit streaks use. Lists are bounded by
 * `DASHBOARD_LIST_LIMIT`, most recent first; counts and sums cover everything.
 */
export const Dashboard = Schema.Struct({
  active_tasks: Schema.Array(Task).annotate({
    description: `Tasks not completed, most recently updated first: at most ${DASHBOARD_LIST_LIMIT}`
  }),
  total_active_tasks: Schema.Int.annotate({ description: "How many tasks are not completed" }),
  total_completed_tasks: Schema.Int.annotate({ description: "How many tasks are completed" }),
  today: Schema.Struct({
    blocks: Schema.Array(Block).annotate({
      description: `Blocks in progress or started or completed today, latest first: at most ${DASHBOARD_LIST_LIMIT}`
    }),
    total_blocks: Schema.Int.annotate({
      description: "How many blocks `blocks` would list without the bound"
    }),
    blocks_completed: Schema.Int,
    focus_minutes: Schema.Int,
    tokens_earned: Schema.Int
  }),
  balance: Schema.Int,
  level: Schema.Int,
  streak_days: Schema.Int
}).annotate({ identifier: "Dashboard" })
export type Dashboard = typeof Dashboard.Type

export const tasksWithStatus = (
  tasks: ReadonlyArray<Task>,
  status: TaskStatus | undefined
): ReadonlyArray<Task> => (status === undefined ? tasks : tasks.filter((t) => t.status === status))

const touchedOn = (block: Block, day: string): boolean =>
  block.status === "in_progress" ||
  (block.started_at !== null && utcDay(block.started_at) === day) ||
  (block.completed_at !== null && utcDay(block.completed_at) === day)

/** The block's latest moment: completion, else start (pending blocks have neither). */
const lastTouched = (block: Block): number =>
  (block.completed_at ?? block.started_at)?.getTime() ?? Number.NEGATIVE_INFINITY

/**
 * What the dashboard is computed from, as a read model answers it without loading every task: the
 * active tasks most recently updated first (at least `DASHBOARD_LIST_LIMIT` of them when there are
 * that many), the totals, and every task touched since the start of the day (a block started or
 * completed, or one running).
 */
export interface DashboardInputs {
  readonly active: ReadonlyArray<Task>
  readonly totalActive: number
  readonly totalCompleted: number
  readonly touched: ReadonlyArray<Task>
}

export const dashboardOf = (inputs: DashboardInputs, wallet: WalletState, at: Date): Dashboard => {
  const day = utcDay(at)
  const blocks = inputs.touched.flatMap((t) => t.blocks.filter((b) => touchedOn(b, day)))
  const completedToday = blocks.filter((b) => b.completed_at !== null && utcDay(b.completed_at) === day)
  return {
    active_tasks: [...inputs.active]
      .sort((a, b) => b.updated_at.getTime() - a.updated_at.getTime())
      .slice(0, DASHBOARD_LIST_LIMIT),
    total_active_tasks: inputs.totalActive,
    total_completed_tasks: inputs.totalCompleted,
    today: {
      blocks: blocks.sort((a, b) => lastTouched(b) - lastTouched(a)).slice(0, DASHBOARD_LIST_LIMIT),
      total_blocks: blocks.length,
      blocks_completed: completedToday.length,
      focus_minutes: completedToday.reduce((sum, b) => sum + b.duration_minutes, 0),
      tokens_earned: completedToday.reduce((sum, b) => sum + (b.tokens_earned ?? 0), 0)
    },
    balance: wallet.balance,
    level: wallet.level,
    streak_days: currentStreak(wallet.last_active_day, wallet.streak_days, day)
  }
}

/** The dashboard of a user whose every task is at hand: the definition the read model must agree with. */
export const dashboard = (tasks: ReadonlyArray<Task>, wallet: WalletState, at: Date): Dashboard => {
  const active = tasks.filter((t) => t.status !== "completed")
  return dashboardOf(
    { active, totalActive: active.length, totalCompleted: tasks.length - active.length, touched: tasks },
    wallet,
    at
  )
}
