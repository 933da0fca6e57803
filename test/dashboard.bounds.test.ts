import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { DASHBOARD_LIST_LIMIT, Dashboard, dashboard } from "../src/domain/dashboard.ts"
import { BlockId, TaskId, UserId } from "../src/domain/ids.ts"
import { CompleteBlock, CreateTask, StartBlock, type Task, TaskDecider } from "../src/domain/task.ts"
import { WalletDecider } from "../src/domain/wallet.ts"
import { day, runCommands } from "./domain/support.ts"

/** Issue 16: the dashboard's size does not grow with the user's history; totals say how much there is. */

const alice = UserId.make("alice")

/** Task `i`, created at hour 0 of day 0; its one 25-minute block started (and completed if `done`). */
const taskOf = (i: number, done: boolean): Task => {
  const task_id = TaskId.make(`t-${i}`)
  const block_id = BlockId.make(`b-${i}`)
  const startedAt = new Date(day(0, 1).getTime() + i * 1_000)
  const { state } = runCommands(TaskDecider, [
    CreateTask.make({
      task_id,
      user_id: alice,
      title: `Task ${i}`,
      description: "",
      duration_minutes: 25,
      difficulty: "medium",
      blocks: [{ block_id, title: `Block ${i}`, duration_minutes: 25 }],
      at: day(0, 0)
    }),
    StartBlock.make({ task_id, user_id: alice, block_id, at: startedAt }),
    ...(done
      ? [
          CompleteBlock.make({
            task_id,
            user_id: alice,
            block_id,
            at: new Date(startedAt.getTime() + 30 * 60_000)
          })
        ]
      : [])
  ])
  if (state.task === null) throw new Error("not created")
  return state.task
}

describe("the dashboard is bounded", () => {
  it(`lists at most ${DASHBOARD_LIST_LIMIT} active tasks and today's blocks, with totals over all`, () => {
    // 300 tasks: every third completed today, the rest with a block in progress.
    const tasks = Array.from({ length: 300 }, (_, i) => taskOf(i, i % 3 === 0))
    const view = dashboard(tasks, WalletDecider.initialState, day(0, 20))
    expect(view.active_tasks).toHaveLength(DASHBOARD_LIST_LIMIT)
    expect(view.total_active_tasks).toBe(200)
    expect(view.total_completed_tasks).toBe(100)
    expect(view.active_tasks.every((t) => t.status !== "completed")).toBe(true)
    expect(view.today.blocks).toHaveLength(DASHBOARD_LIST_LIMIT)
    expect(view.today.total_blocks).toBe(300)
    // Sums still cover every block, not only the listed ones.
    expect(view.today.blocks_completed).toBe(100)
    expect(view.today.focus_minutes).toBe(100 * 25)
    // Most recent first: the latest-touched blocks are the ones shown.
    const shown = view.today.blocks.map((b) => (b.completed_at ?? b.started_at)?.getTime() ?? 0)
    expect(shown).toEqual([...shown].sort((a, b) => b - a))
    expect(Math.min(...shown)).toBeGreaterThanOrEqual(
      Math.max(
        ...tasks
          .flatMap((t) => t.blocks)
          .filter((b) => !view.today.blocks.some((shownBlock) => shownBlock.id === b.id))
          .map((b) => (b.completed_at ?? b.started_at)?.getTime() ?? 0)
      )
    )
    // And the answer still encodes as the API declares it.
    expect(() => Schema.encodeSync(Dashboard)(view)).not.toThrow()
  })

  it("a small history is shown whole", () => {
    const tasks = [taskOf(1, false), taskOf(2, true)]
    const view = dashboard(tasks, WalletDecider.initialState, day(0, 20))
    expect(view.active_tasks.map((t) => t.id)).toEqual(["t-1"])
    expect(view).toMatchObject({ total_active_tasks: 1, total_completed_tasks: 1 })
    expect(view.today.blocks.map((b) => b.id)).toEqual(["b-2", "b-1"])
    expect(view.today.total_blocks).toBe(2)
  })
})
