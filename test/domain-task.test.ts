import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import { BlockId, TaskId, UserId } from "../src/domain/ids.ts"
import { payForBlock } from "../src/domain/rules.ts"
import {
  CompleteBlock,
  CreateTask,
  DeleteTask,
  heuristicBlockPlans,
  StartBlock,
  type TaskCommand,
  TaskDecider,
  type TaskError,
  type TaskEvent,
  TaskEvent as TaskEventSchema,
  type TaskState,
  UpdateTask
} from "../src/domain/task.ts"
import { CreditBlock, creditFor, WalletDecider } from "../src/domain/wallet.ts"
import { dashboard, tasksWithStatus } from "../src/domain/dashboard.ts"
import { day, decideErr, decideOk, runCommands } from "./domain/support.ts"

const taskId = TaskId.make("task-1")
const alice = UserId.make("alice")
const bob = UserId.make("bob")
const blockId = (i: number) => BlockId.make(`blk-${i}`)

const create = (duration: number, difficulty: "low" | "medium" | "high" = "high", at = day(0)) =>
  CreateTask.make({
    task_id: taskId,
    user_id: alice,
    title: "Write the report",
    description: "",
    duration_minutes: duration,
    difficulty,
    blocks: heuristicBlockPlans("Write the report", duration, blockId),
    at
  })

describe("task examples", () => {
  it("a 90-minute high-difficulty task has 4 blocks; completing all pays 29+29+28+28 and completes the task", () => {
    let { state } = decideOk(TaskDecider, TaskDecider.initialState, create(90))
    expect(state.task?.blocks.map((b) => b.duration_minutes)).toEqual([23, 23, 22, 22])
    expect(state.task?.status).toBe("pending")
    const completions: Array<TaskEvent> = []
    for (const [i, block] of (state.task?.blocks ?? []).entries()) {
      state = decideOk(
        TaskDecider,
        state,
        StartBlock.make({ task_id: taskId, user_id: alice, block_id: block.id, at: day(0, 9 + i) })
      ).state
      expect(state.task?.status).toBe("in_progress")
      const done = decideOk(
        TaskDecider,
        state,
        CompleteBlock.make({ task_id: taskId, user_id: alice, block_id: block.id, at: day(0, 10 + i) })
      )
      completions.push(...done.events)
      state = done.state
    }
    const tokens = completions.flatMap((e) => (e._tag === "BlockCompleted" ? [e.tokens_earned] : []))
    expect(tokens).toEqual([29, 29, 28, 28])
    expect(completions.filter((e) => e._tag === "TaskCompleted")).toHaveLength(1)
    expect(completions.at(-1)?._tag).toBe("TaskCompleted")
    expect(state.task?.status).toBe("completed")
    expect(state.task?.tokens_earned).toBe(114)

    // The wallet, fed from the task's events, pays the same amounts.
    const wallet = runCommands(
      WalletDecider,
      completions.flatMap((e) => (e._tag === "BlockCompleted" ? [creditFor(e)] : []))
    )
    expect(wallet.events.flatMap((e) => (e._tag === "TokensEarned" ? [e.amount] : []))).toEqual(tokens)
  })

  it("completing a block twice fails with InvalidTransition; completing a pending block is BlockNotStarted", () => {
    const s0 = decideOk(TaskDecider, TaskDecider.initialState, create(50)).state
    const complete = CompleteBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0) })
    expect(decideErr(TaskDecider, s0, complete)).toMatchObject({
      _tag: "BlockNotStarted",
      details: { task_id: taskId, block_id: blockId(0) }
    })
    const s1 = decideOk(
      TaskDecider,
      s0,
      StartBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0) })
    ).state
    const s2 = decideOk(TaskDecider, s1, complete).state
    expect(decideErr(TaskDecider, s2, complete)).toMatchObject({
      _tag: "InvalidTransition",
      details: { from: "completed" }
    })
  })

  it("pays by server time since the block's start: nothing at once, partial before 80 %, full after", () => {
    const s0 = decideOk(TaskDecider, TaskDecider.initialState, create(25, "medium")).state
    const started = decideOk(
      TaskDecider,
      s0,
      StartBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0, 9) })
    ).state
    const minutesAfterStart = (minutes: number) => new Date(day(0, 9).getTime() + minutes * 60_000)
    const completeAt = (minutes: number) =>
      decideOk(
        TaskDecider,
        started,
        CompleteBlock.make({
          task_id: taskId,
          user_id: alice,
          block_id: blockId(0),
          at: minutesAfterStart(minutes)
        })
      ).events[0]
    // 25 minutes, full pay 25 from 20 minutes on.
    expect(completeAt(0)).toMatchObject({ _tag: "BlockCompleted", tokens_earned: 0, started_at: day(0, 9) })
    expect(completeAt(10)).toMatchObject({ tokens_earned: 12 })
    expect(completeAt(20)).toMatchObject({ tokens_earned: 25 })
    expect(completeAt(180)).toMatchObject({ tokens_earned: 25 })
    // The wallet pays what the task recorded, from the same facts.
    for (const minutes of [0, 10, 180]) {
      const event = completeAt(minutes)
      if (event?._tag !== "BlockCompleted") throw new Error("no completion")
      const wallet = runCommands(WalletDecider, [creditFor(event)])
      expect(wallet.events[0]).toMatchObject({ _tag: "TokensEarned", amount: event.tokens_earned })
    }
  })

  it("a validated proof adds up to 30 % on top of the pay for the time, never less", () => {
    const s0 = decideOk(TaskDecider, TaskDecider.initialState, create(25, "medium")).state
    const s1 = decideOk(
      TaskDecider,
      s0,
      StartBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0) })
    ).state
    const done = decideOk(
      TaskDecider,
      s1,
      CompleteBlock.make({
        task_id: taskId,
        user_id: alice,
        block_id: blockId(0),
        proof_text: "wrote 3 pages",
        proof_score: 0.6,
        effort_rating: 7,
        at: day(0, 13)
      })
    )
    // 25 for the time, + floor(25 × 0.3 × 0.6) = 4 for the proof.
    expect(done.events[0]).toMatchObject({ _tag: "BlockCompleted", tokens_earned: 29, proof_score: 0.6 })
    expect(done.state.task?.blocks[0]).toMatchObject({ proof_text: "wrote 3 pages", effort_rating: 7 })
  })

  it("another user's task is not found, for every command", () => {
    const s0 = decideOk(TaskDecider, TaskDecider.initialState, create(50)).state
    const commands: ReadonlyArray<TaskCommand> = [
      StartBlock.make({ task_id: taskId, user_id: bob, block_id: blockId(0), at: day(0) }),
      CompleteBlock.make({ task_id: taskId, user_id: bob, block_id: blockId(0), at: day(0) }),
      UpdateTask.make({ task_id: taskId, user_id: bob, title: "mine now", at: day(0) }),
      DeleteTask.make({ task_id: taskId, user_id: bob, at: day(0) })
    ]
    for (const c of commands) expect(decideErr(TaskDecider, s0, c)).toMatchObject({ _tag: "TaskNotFound" })
  })

  it("an unknown block is BlockNotFound; a deleted task is gone and its id cannot be reused", () => {
    const s0 = decideOk(TaskDecider, TaskDecider.initialState, create(50)).state
    expect(
      decideErr(
        TaskDecider,
        s0,
        StartBlock.make({ task_id: taskId, user_id: alice, block_id: BlockId.make("nope"), at: day(0) })
      )
    ).toMatchObject({ _tag: "BlockNotFound" })
    const deleted = decideOk(
      TaskDecider,
      s0,
      DeleteTask.make({ task_id: taskId, user_id: alice, at: day(0) })
    ).state
    expect(deleted.task).toBeNull()
    expect(
      decideErr(
        TaskDecider,
        deleted,
        StartBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0) })
      )
    ).toMatchObject({ _tag: "TaskNotFound" })
    expect(decideErr(TaskDecider, deleted, create(50))).toMatchObject({ _tag: "TaskAlreadyExists" })
  })

  it("only one block is in progress at a time", () => {
    const s0 = decideOk(TaskDecider, TaskDecider.initialState, create(50)).state
    const s1 = decideOk(
      TaskDecider,
      s0,
      StartBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0) })
    ).state
    expect(
      decideErr(
        TaskDecider,
        s1,
        StartBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(1), at: day(0) })
      )
    ).toMatchObject({ _tag: "InvalidTransition" })
  })

  it("difficulty and duration change only before any block started; title any time", () => {
    const s0 = decideOk(TaskDecider, TaskDecider.initialState, create(50)).state
    const replanned = decideOk(
      TaskDecider,
      s0,
      UpdateTask.make({
        task_id: taskId,
        user_id: alice,
        difficulty: "low",
        replan: {
          duration_minutes: 100,
          blocks: heuristicBlockPlans("x", 100, (i) => BlockId.make(`n${i}`))
        },
        at: day(0)
      })
    ).state
    expect(replanned.task).toMatchObject({ difficulty: "low", duration_minutes: 100 })
    expect(replanned.task?.blocks).toHaveLength(4)
    const started = decideOk(
      TaskDecider,
      replanned,
      StartBlock.make({ task_id: taskId, user_id: alice, block_id: BlockId.make("n0"), at: day(0) })
    ).state
    expect(
      decideErr(
        TaskDecider,
        started,
        UpdateTask.make({ task_id: taskId, user_id: alice, difficulty: "high", at: day(0) })
      )
    ).toMatchObject({ _tag: "InvalidTransition" })
    const renamed = decideOk(
      TaskDecider,
      started,
      UpdateTask.make({ task_id: taskId, user_id: alice, title: "New", at: day(0) })
    )
    expect(renamed.state.task?.title).toBe("New")
  })

  it("rejects duplicate block ids and bad input at the schema", () => {
    const dup = CreateTask.make({
      ...create(50),
      blocks: [
        { block_id: blockId(0), title: "a", duration_minutes: 25 },
        { block_id: blockId(0), title: "b", duration_minutes: 25 }
      ]
    })
    expect(decideErr(TaskDecider, TaskDecider.initialState, dup)).toMatchObject({ _tag: "InvalidInput" })
    const decode = Schema.decodeUnknownResult(CreateTask)
    const valid = Schema.encodeSync(CreateTask)(create(50))
    expect(Result.isSuccess(decode(valid))).toBe(true)
    for (const bad of [
      { ...valid, duration_minutes: -5 },
      { ...valid, duration_minutes: 601 },
      { ...valid, duration_minutes: 2.5 },
      { ...valid, title: "" },
      { ...valid, title: "x".repeat(201) },
      { ...valid, difficulty: "extreme" },
      { ...valid, blocks: [] },
      { ...valid, task_id: "../etc" }
    ]) {
      expect(Result.isFailure(decode(bad))).toBe(true)
    }
  })
})

/** Random command sequences over one task with a few blocks, from its owner and from an intruder. */
const commandsArb = fc.array(
  fc.record({
    kind: fc.constantFrom("start", "start", "complete", "complete", "update", "delete", "create"),
    block: fc.integer({ min: 0, max: 5 }),
    intruder: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
    proof: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
    difficulty: fc.constantFrom("low" as const, "medium" as const, "high" as const)
  }),
  { maxLength: 60 }
)

const toCommands = (
  duration: number,
  raw: ReadonlyArray<{
    kind: string
    block: number
    intruder: boolean
    proof: number | undefined
    difficulty: "low" | "medium" | "high"
  }>
) =>
  raw.map((r, i): TaskCommand => {
    const user_id = r.intruder ? bob : alice
    // Six minutes apart, so completions span too-short, partial and full pay.
    const at = new Date(day(0, 0).getTime() + i * 6 * 60_000)
    switch (r.kind) {
      case "start":
        return StartBlock.make({ task_id: taskId, user_id, block_id: blockId(r.block), at })
      case "complete":
        return CompleteBlock.make({
          task_id: taskId,
          user_id,
          block_id: blockId(r.block),
          ...(r.proof === undefined ? {} : { proof_score: r.proof }),
          at
        })
      case "update":
        return UpdateTask.make({ task_id: taskId, user_id, difficulty: r.difficulty, at })
      case "delete":
        return r.block === 0
          ? DeleteTask.make({ task_id: taskId, user_id, at })
          : UpdateTask.make({ task_id: taskId, user_id, title: "t", at })
      default:
        return create(duration, r.difficulty, at)
    }
  })

const order = { pending: 0, in_progress: 1, completed: 2 } as const

describe("task state machine properties", () => {
  const runs = fc
    .tuple(fc.integer({ min: 1, max: 150 }), commandsArb)
    .map(([duration, raw]) =>
      runCommands<TaskState, TaskCommand, TaskEvent, TaskError>(TaskDecider, [
        create(duration),
        ...toCommands(duration, raw)
      ])
    )

  it("blocks only move forward, each block completes at most once, the task completes exactly when all blocks have", () => {
    fc.assert(
      fc.property(runs, ({ steps, events }) => {
        for (const { before, after } of steps) {
          if (before.task === null || after.task === null) continue
          if (before.task.blocks.map((b) => b.id).join() !== after.task.blocks.map((b) => b.id).join())
            continue
          after.task.blocks.forEach((b, i) => {
            const prev = before.task?.blocks[i]
            if (prev) expect(order[b.status]).toBeGreaterThanOrEqual(order[prev.status])
          })
          expect(after.task.blocks.filter((b) => b.status === "in_progress").length).toBeLessThanOrEqual(1)
          const allDone = after.task.blocks.every((b) => b.status === "completed")
          expect(after.task.status === "completed").toBe(allDone)
        }
        const completed = events.flatMap((e) => (e._tag === "BlockCompleted" ? [e.block_id] : []))
        expect(new Set(completed).size).toBe(completed.length)
        expect(events.filter((e) => e._tag === "TaskCompleted").length).toBeLessThanOrEqual(1)
      })
    )
  })

  it("a block's tokens follow the pay rule: the task's difficulty, server time since its start, the proof", () => {
    fc.assert(
      fc.property(runs, ({ steps }) => {
        for (const { command, before, result } of steps) {
          if (command._tag !== "CompleteBlock" || Result.isFailure(result) || before.task === null) continue
          const block = before.task.blocks.find((b) => b.id === command.block_id)
          const startedAt = block?.started_at ?? null
          expect(startedAt).not.toBeNull()
          expect(result.success[0]).toMatchObject({
            _tag: "BlockCompleted",
            started_at: startedAt,
            tokens_earned: payForBlock({
              minutes: block?.duration_minutes ?? -1,
              difficulty: before.task.difficulty,
              elapsed_ms: command.at.getTime() - (startedAt?.getTime() ?? 0),
              proof_score: command.proof_score
            }).tokens
          })
        }
      })
    )
  })

  it("an intruder's commands always fail with TaskNotFound and change nothing", () => {
    fc.assert(
      fc.property(runs, ({ steps }) => {
        for (const { command, before, after, result } of steps) {
          if (command.user_id !== bob) continue
          expect(Result.isFailure(result) && result.failure._tag).toBe(
            command._tag === "CreateTask" ? false : "TaskNotFound"
          )
          expect(after).toEqual(before)
        }
      })
    )
  })

  it("replaying the events through JSON rebuilds the same state", () => {
    const encode = Schema.encodeSync(TaskEventSchema)
    const decode = Schema.decodeUnknownSync(TaskDecider.event)
    fc.assert(
      fc.property(runs, ({ state, events }) => {
        const stored = events.map((e) => JSON.parse(JSON.stringify(encode(e))))
        expect(
          stored.map((json) => decode(json)).reduce(TaskDecider.evolve, TaskDecider.initialState)
        ).toEqual(state)
        const snapshot = JSON.parse(JSON.stringify(Schema.encodeSync(TaskDecider.state)(state)))
        expect(Schema.decodeUnknownSync(TaskDecider.state)(snapshot)).toEqual(state)
      })
    )
  })
})

describe("dashboard", () => {
  it("shows active tasks, today's blocks with their minutes and tokens, balance and streak", () => {
    let { state } = decideOk(TaskDecider, TaskDecider.initialState, create(50, "medium", day(0, 8)))
    state = decideOk(
      TaskDecider,
      state,
      StartBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0, 9) })
    ).state
    state = decideOk(
      TaskDecider,
      state,
      CompleteBlock.make({ task_id: taskId, user_id: alice, block_id: blockId(0), at: day(0, 10) })
    ).state
    const wallet = runCommands(WalletDecider, [
      CreditBlock.make({
        task_id: taskId,
        block_id: blockId(0),
        minutes: 25,
        difficulty: "medium",
        at: day(0, 10)
      })
    ]).state
    const view = dashboard([state.task!], wallet, day(0, 18))
    expect(view.active_tasks.map((t) => t.id)).toEqual([taskId])
    expect(view.today).toMatchObject({ blocks_completed: 1, focus_minutes: 25, tokens_earned: 25 })
    expect(view).toMatchObject({ balance: 25, streak_days: 1 })
    expect(dashboard([state.task!], wallet, day(1, 9)).today.blocks).toEqual([])
    expect(tasksWithStatus([state.task!], "completed")).toEqual([])
  })
})

describe("heuristic block plans", () => {
  it("always produce a valid CreateTask, whatever the title and duration (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.integer({ min: 1, max: 600 }), (title, duration) => {
        const blocks = heuristicBlockPlans(title, duration, blockId)
        expect(blocks.reduce((sum, b) => sum + b.duration_minutes, 0)).toBe(duration)
        const command = { ...Schema.encodeSync(CreateTask)(create(duration)), blocks }
        expect(Result.isSuccess(Schema.decodeUnknownResult(CreateTask)(command))).toBe(true)
      })
    )
  })
})
