import { Schema } from "effect"
import { utcDay } from "./common.ts"
import { currentStreak } from "./rules.ts"
import { Block, Task, type TaskStatus } from "./task.ts"
import type { WalletState } from "./wallet.ts"

/**
 * What `GET /tasks/dashboard` shows, computed from the user's tasks (a projection) and wallet state.
 * "Today" is the UTC day of the request, the same day unit streaks use.
 */
export const Dashboard = Schema.Struct({
  active_tasks: Schema.Array(Task),
  today: Schema.Struct({
    blocks: Schema.Array(Block),
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

export const dashboard = (tasks: ReadonlyArray<Task>, wallet: WalletState, at: Date): Dashboard => {
  const day = utcDay(at)
  const blocks = tasks.flatMap((t) => t.blocks.filter((b) => touchedOn(b, day)))
  const completedToday = blocks.filter((b) => b.completed_at !== null && utcDay(b.completed_at) === day)
  return {
    active_tasks: tasks
      .filter((t) => t.status !== "completed")
      .sort((a, b) => b.updated_at.getTime() - a.updated_at.getTime()),
    today: {
      blocks,
      blocks_completed: completedToday.length,
      focus_minutes: completedToday.reduce((sum, b) => sum + b.duration_minutes, 0),
      tokens_earned: completedToday.reduce((sum, b) => sum + (b.tokens_earned ?? 0), 0)
    },
    balance: wallet.balance,
    level: wallet.level,
    streak_days: currentStreak(wallet.last_active_day, wallet.streak_days, day)
  }
}
