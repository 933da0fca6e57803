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

export const dashboard = (tasks: ReadonlyArray<Task>, wallet: WalletState, at: Date): Dashboard => {
  const day = utcDay(at)
  const blocks = tasks.flatMap((t) => t.blocks.filter((b) => touchedOn(b, day)))
  const completedToday = blocks.filter((b) => b.completed_at !== null && utcDay(b.completed_at) === day)
  const active = tasks.filter((t) => t.status !== "completed")
  return {
    active_tasks: active
      .sort((a, b) => b.updated_at.getTime() - a.updated_at.getTime())
      .slice(0, DASHBOARD_LIST_LIMIT),
    total_active_tasks: active.length,
    total_completed_tasks: tasks.length - active.length,
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
