import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Result } from "effect"
import { TestClock } from "effect/testing"
import { UserId } from "../src/domain/ids.ts"
import { tokensForBlock } from "../src/domain/rules.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Aggregates } from "../src/programs/aggregates.ts"
import { TaskReadModel } from "../src/programs/taskReadModel.ts"
import { HeuristicTaskBreakdown } from "../src/programs/taskBreakdown.ts"
import { Tasks } from "../src/programs/tasks.ts"

/** The task program on the real actors and an in-memory store; time is the TestClock's. */
const TestLayer = Tasks.layer.pipe(
  Layer.provideMerge(Layer.mergeAll(Aggregates.layer, TaskReadModel.layer, HeuristicTaskBreakdown)),
  Layer.provideMerge(ActorSystem.layer),
  Layer.provideMerge(EventStoreSqliteMemory)
)

const newTask = (tasks: Tasks["Service"], user: UserId, minutes = 25) =>
  tasks.create(user, { title: "Focus", description: "", duration_minutes: minutes, difficulty: "medium" })

describe("the task program pays for focus actually spent (TestClock)", () => {
  it.layer(TestLayer)("on an in-memory store", (it) => {
    it.effect("start + immediate completion pays 0 and says why; the wallet counts it for nothing", () =>
      Effect.gen(function* () {
        const tasks = yield* Tasks
        const { wallets } = yield* Aggregates
        const user = UserId.make("hasty")
        const task = yield* newTask(tasks, user)
        const block = task.blocks[0]!
        yield* tasks.startBlock(user, task.id, block.id)
        yield* TestClock.adjust("30 seconds")
        const done = yield* tasks.completeBlock(user, task.id, block.id, { proof_text: "all done" })
        expect(done.tokens_earned).toBe(0)
        expect(done.pay).toEqual({
          full_tokens: 25,
          elapsed_minutes: 0.5,
          planned_minutes: 25,
          reason: "too_short",
          time_tokens: 0,
          proof_bonus: 0
        })
        expect(done).toMatchObject({ bonus_tokens: 0, balance: 0 })
        expect(done.block).toMatchObject({ status: "completed", tokens_earned: 0 })
        const wallet = (yield* wallets.read(user)).state
        expect(wallet).toMatchObject({ balance: 0, streak_days: 0, last_active_day: null })
      })
    )

    it.effect("pays partially before 80 % of the plan and in full from there, by the server's clock", () =>
      Effect.gen(function* () {
        const tasks = yield* Tasks
        const user = UserId.make("steady")
        const task = yield* newTask(tasks, user, 50)
        const [first, second] = task.blocks
        yield* tasks.startBlock(user, task.id, first!.id)
        yield* TestClock.adjust("10 minutes")
        const partial = yield* tasks.completeBlock(user, task.id, first!.id, {})
        expect(partial).toMatchObject({ tokens_earned: 12, pay: { reason: "partial", elapsed_minutes: 10 } })
        yield* tasks.startBlock(user, task.id, second!.id)
        yield* TestClock.adjust("20 minutes")
        const full = yield* tasks.completeBlock(user, task.id, second!.id, {})
        expect(full).toMatchObject({ tokens_earned: tokensForBlock({ minutes: 25, difficulty: "medium" }) })
        expect(full.pay.reason).toBe("full")
        expect(full.balance).toBe(12 + 25 + full.bonus_tokens)
      })
    )

    it.effect("completing a block never started is BlockNotStarted and writes nothing", () =>
      Effect.gen(function* () {
        const tasks = yield* Tasks
        const { wallets } = yield* Aggregates
        const user = UserId.make("skipper")
        const task = yield* newTask(tasks, user)
        const refused = yield* Effect.result(tasks.completeBlock(user, task.id, task.blocks[0]!.id, {}))
        expect(Result.isFailure(refused) && refused.failure._tag).toBe("BlockNotStarted")
        expect((yield* tasks.get(user, task.id)).blocks[0]?.status).toBe("pending")
        expect((yield* wallets.read(user)).version).toBe(0)
      })
    )

    it.effect("a block raced 50 times after its minutes passed pays once", () =>
      Effect.gen(function* () {
        const tasks = yield* Tasks
        const { wallets } = yield* Aggregates
        const user = UserId.make("racer")
        const task = yield* newTask(tasks, user)
        const block = task.blocks[0]!
        yield* tasks.startBlock(user, task.id, block.id)
        yield* TestClock.adjust("25 minutes")
        const results = yield* Effect.all(
          Array.from({ length: 50 }, () => Effect.result(tasks.completeBlock(user, task.id, block.id, {}))),
          { concurrency: "unbounded" }
        )
        expect(results.filter(Result.isSuccess)).toHaveLength(1)
        const failures = results.flatMap((r) => (Result.isFailure(r) ? [r.failure._tag] : []))
        expect(new Set(failures)).toEqual(new Set(["InvalidTransition"]))
        const wallet = (yield* wallets.read(user)).state
        expect(wallet.total_earned).toBe(25)
        expect(Object.values(wallet.paid_blocks)).toEqual([25])
      })
    )
  })
})
