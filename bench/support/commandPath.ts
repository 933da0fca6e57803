/**
 * The command path's load and its check, shared by bench/commands.ts and bench/peer.ts: tasks created
 * for bench users, a wrk run of bench/lua/commands.lua (every user starts and completes its blocks in
 * order, one request in flight per user), and the verification through the API afterwards (every block
 * answered 2xx is completed and paid exactly once, every wallet equals its ledger). Not a benchmark.
 */
import {
  type BenchUser,
  expectJson,
  forEachLimited,
  luaReport,
  tempFile,
  type WrkResult,
  wrk
} from "./harness.ts"

const DIFFICULTIES = ["low", "medium", "high"] as const

export interface BenchTask {
  readonly id: string
  readonly blocks: ReadonlyArray<string>
}

export interface TaskView {
  readonly id: string
  readonly blocks: ReadonlyArray<{
    readonly id: string
    readonly status: string
    readonly tokens_earned: number | null
  }>
}

// --- setup -----------------------------------------------------------------------------------------

/**
 * Creates `perUser` tasks for every user: each of `blocksPerTask` 25-minute blocks, difficulty rotating
 * low/medium/high. Answers each user's tasks with their block ids (what commands.lua works through).
 */
export const createTasks = (
  base: string,
  users: ReadonlyArray<BenchUser>,
  perUser: number,
  round: string,
  blocksPerTask: number
) =>
  forEachLimited(users, 32, async (user, u) => {
    const tasks: Array<BenchTask> = []
    for (let t = 0; t < perUser; t++) {
      const task = await expectJson<TaskView>(201, base, "POST", "/api/v1/tasks", {
        token: user.token,
        body: {
          title: `Bench ${round} task ${t}`,
          duration_minutes: 25 * blocksPerTask,
          difficulty: DIFFICULTIES[(u + t) % DIFFICULTIES.length]
        }
      })
      if (task.blocks.length !== blocksPerTask) throw new Error(`task cut into ${task.blocks.length} blocks`)
      tasks.push({ id: task.id, blocks: task.blocks.map((b) => b.id) })
    }
    return tasks
  })

export const dataFile = (users: ReadonlyArray<BenchUser>, tasks: ReadonlyArray<ReadonlyArray<BenchTask>>) =>
  tempFile(
    "commands.txt",
    `${users
      .map((user, u) => `${user.token} ${tasks[u]!.map((t) => `${t.id}:${t.blocks.join(",")}`).join(" ")}`)
      .join("\n")}\n`
  )

// --- a timed run and what wrk saw ------------------------------------------------------------------

export interface Position {
  readonly task: number
  readonly block: number
  readonly phase: "start" | "complete"
  readonly busy: boolean
  readonly failed: boolean
}

export interface CommandRun {
  readonly wrk: WrkResult
  readonly startOk: number
  readonly completeOk: number
  readonly failed: number
  readonly tokens: number
  readonly starved: number
  readonly unmatched: number
  readonly statuses: Record<string, number>
  readonly positions: ReadonlyArray<Position>
}

export const runCommands = async (
  url: string,
  seconds: number,
  data: string,
  connections: number,
  openFiles: number
): Promise<CommandRun> => {
  const result = await wrk({
    url,
    seconds,
    connections,
    script: "bench/lua/commands.lua",
    scriptArgs: [data],
    openFiles
  })
  const report = luaReport(result.text)
  const positions: Array<Position> = []
  const statuses: Record<string, number> = {}
  for (const [key, value] of Object.entries(report)) {
    const user = /^user\.(\d+)$/.exec(key)
    if (user?.[1] !== undefined) {
      const [task, block, phase, busy, failed] = value.split(",")
      positions[Number(user[1]) - 1] = {
        task: Number(task),
        block: Number(block),
        phase: phase === "complete" ? "complete" : "start",
        busy: busy === "true",
        failed: failed === "true"
      }
    }
    const status = /^status\.(\d+)$/.exec(key)
    if (status?.[1] !== undefined) statuses[status[1]] = Number(value)
  }
  const n = (key: string) => Number(report[key] ?? Number.NaN)
  return {
    wrk: result,
    startOk: n("start_ok"),
    completeOk: n("complete_ok"),
    failed: n("failed"),
    tokens: n("tokens"),
    starved: n("starved"),
    unmatched: n("unmatched"),
    statuses,
    positions
  }
}

/** Blocks a run certainly completed (answered 2xx) and the one per user whose completion was in flight at the end. */
export const expectedBlocks = (tasks: ReadonlyArray<BenchTask>, position: Position | undefined) => {
  const done = new Set<string>()
  const inDoubt = new Set<string>()
  if (position === undefined) return { done, inDoubt }
  tasks.forEach((task, t) => {
    task.blocks.forEach((block, b) => {
      const before = t + 1 < position.task || (t + 1 === position.task && b + 1 < position.block)
      if (before) done.add(block)
      // A completion without an answer (in flight when wrk stopped, timed out, or answered non-2xx) may have happened.
      if (t + 1 === position.task && b + 1 === position.block && position.phase === "complete") {
        if (position.busy || position.failed) inDoubt.add(block)
      }
    })
  })
  return { done, inDoubt }
}

// --- verification through the API ------------------------------------------------------------------

export interface Verification {
  readonly users: number
  readonly completedBlocks: number
  readonly expectedBlocks: number
  readonly inDoubtCompleted: number
  /** Answered 2xx but not completed on the server. */
  readonly lost: number
  /** Completed on the server without a 2xx or an unanswered request for it. */
  readonly phantom: number
  /** Completed blocks without their ledger earning, or with an earning of another amount. */
  readonly unpaid: number
  /** Earnings for the same block more than once, or for a block that is not completed. */
  readonly overpaid: number
  /** Wallets whose balance or total earned differs from their ledger. */
  readonly walletMismatches: number
  readonly blockTokens: number
  readonly bonusTokens: number
  readonly walletBalance: number
  readonly problems: ReadonlyArray<string>
}

export interface LedgerView {
  readonly items: ReadonlyArray<{
    readonly type: string
    readonly amount: number
    readonly task_id: string | null
    readonly block_id: string | null
  }>
  readonly total: number
}

export const pages = async <A>(
  fetchPage: (offset: number) => Promise<{ items: ReadonlyArray<A>; total: number }>
) => {
  const all: Array<A> = []
  for (let offset = 0; ; offset += 100) {
    const page = await fetchPage(offset)
    all.push(...page.items)
    if (page.items.length === 0 || all.length >= page.total) return all
  }
}

export const verify = async (
  base: string,
  users: ReadonlyArray<BenchUser>,
  runs: ReadonlyArray<{ tasks: ReadonlyArray<ReadonlyArray<BenchTask>>; run: CommandRun }>,
  tokensSeen: number
): Promise<Verification> => {
  const problems: Array<string> = []
  const note = (problem: string) => {
    if (problems.length < 10) problems.push(problem)
  }
  const perUser = await forEachLimited(users, 16, async (user, u) => {
    const done = new Set<string>()
    const inDoubt = new Set<string>()
    for (const { tasks, run } of runs) {
      const expected = expectedBlocks(tasks[u]!, run.positions[u])
      for (const block of expected.done) done.add(block)
      for (const block of expected.inDoubt) inDoubt.add(block)
    }
    const tasks = await pages((offset) =>
      expectJson<{ items: ReadonlyArray<TaskView>; total: number }>(
        200,
        base,
        "GET",
        `/api/v1/tasks?limit=100&offset=${offset}`,
        { token: user.token }
      )
    )
    const ledger = await pages((offset) =>
      expectJson<LedgerView>(200, base, "GET", `/api/v1/store/transactions?limit=100&offset=${offset}`, {
        token: user.token
      })
    )
    const profile = await expectJson<{ balance: number; total_earned: number; total_spent: number }>(
      200,
      base,
      "GET",
      "/api/v1/store/profile",
      { token: user.token }
    )
    const completed = new Map<string, number>()
    for (const task of tasks) {
      for (const block of task.blocks) {
        if (block.status === "completed") completed.set(block.id, block.tokens_earned ?? Number.NaN)
      }
    }
    let lost = 0
    let phantom = 0
    let inDoubtCompleted = 0
    let inDoubtTokens = 0
    for (const block of done) {
      if (!completed.has(block)) {
        lost++
        note(`user ${u + 1}: block ${block} answered 2xx but is not completed`)
      }
    }
    for (const [block, tokens] of completed) {
      if (done.has(block)) continue
      if (inDoubt.has(block)) {
        inDoubtCompleted++
        inDoubtTokens += tokens
      } else {
        phantom++
        note(`user ${u + 1}: block ${block} completed without a request that completed it`)
      }
    }
    const earnings = new Map<string, Array<number>>()
    let bonus = 0
    let ledgerSum = 0
    for (const entry of ledger) {
      ledgerSum += entry.amount
      if (entry.type === "earning" && entry.block_id !== null) {
        earnings.set(entry.block_id, [...(earnings.get(entry.block_id) ?? []), entry.amount])
      } else if (entry.type === "bonus") bonus += entry.amount
    }
    let unpaid = 0
    let overpaid = 0
    let blockTokens = 0
    for (const [block, tokens] of completed) {
      const paid = earnings.get(block) ?? []
      if (paid.length === 0 || paid[0] !== tokens) {
        unpaid++
        note(`user ${u + 1}: block ${block} worth ${tokens} paid ${JSON.stringify(paid)}`)
      }
      if (paid.length > 1) {
        overpaid += paid.length - 1
        note(`user ${u + 1}: block ${block} paid ${paid.length} times`)
      }
      blockTokens += tokens
    }
    for (const block of earnings.keys()) {
      if (!completed.has(block)) {
        overpaid++
        note(`user ${u + 1}: earning for block ${block}, which is not completed`)
      }
    }
    const walletMismatch =
      profile.balance !== ledgerSum ||
      profile.total_earned !== blockTokens + bonus ||
      profile.balance !== profile.total_earned - profile.total_spent
    if (walletMismatch) {
      note(
        `user ${u + 1}: wallet ${JSON.stringify(profile)} vs ledger sum ${ledgerSum}, block tokens ${blockTokens}, bonuses ${bonus}`
      )
    }
    return {
      completed: completed.size,
      expected: done.size,
      inDoubtCompleted,
      inDoubtTokens,
      lost,
      phantom,
      unpaid,
      overpaid,
      walletMismatch,
      blockTokens,
      bonus,
      balance: profile.balance
    }
  })
  const sum = (f: (row: (typeof perUser)[number]) => number) =>
    perUser.reduce((total, row) => total + f(row), 0)
  // What wrk saw answered, plus what was completed by requests it never saw answered, is what the wallets hold.
  const blockTokens = sum((r) => r.blockTokens)
  const inDoubtTokens = sum((r) => r.inDoubtTokens)
  if (tokensSeen + inDoubtTokens !== blockTokens) {
    note(
      `tokens in 2xx answers ${tokensSeen} + in-doubt completions ${inDoubtTokens} ≠ block tokens in wallets ${blockTokens}`
    )
  }
  return {
    users: users.length,
    completedBlocks: sum((r) => r.completed),
    expectedBlocks: sum((r) => r.expected),
    inDoubtCompleted: sum((r) => r.inDoubtCompleted),
    lost: sum((r) => r.lost),
    phantom: sum((r) => r.phantom),
    unpaid: sum((r) => r.unpaid),
    overpaid: sum((r) => r.overpaid),
    walletMismatches:
      sum((r) => (r.walletMismatch ? 1 : 0)) + (tokensSeen + inDoubtTokens === blockTokens ? 0 : 1),
    blockTokens,
    bonusTokens: sum((r) => r.bonus),
    walletBalance: sum((r) => r.balance),
    problems
  }
}
