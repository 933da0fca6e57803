import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { BlockId, TaskId, UserId } from "../src/domain/ids.ts"
import { tokensForBlock } from "../src/domain/rules.ts"
import { CompleteBlock, CreateTask, StartBlock } from "../src/domain/task.ts"
import { creditFor } from "../src/domain/wallet.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Aggregates } from "../src/programs/aggregates.ts"
import { BlockCredits } from "../src/programs/blockCredits.ts"

const TestLayer = BlockCredits.layer.pipe(
  Layer.provideMerge(Aggregates.layer),
  Layer.provideMerge(ActorSystem.layer),
  Layer.provideMerge(EventStoreSqliteMemory)
)

/**
 * Creates a one-block task, starts and completes the block (its planned minutes later) on the task
 * actor only: no wallet credit.
 */
const completeWithoutCredit = (minutes: number) =>
  Effect.gen(function* () {
    const { tasks } = yield* Aggregates
    const user_id = UserId.make(randomUUID())
    const task_id = TaskId.make(randomUUID())
    const block_id = BlockId.make(randomUUID())
    const at = new Date()
    yield* tasks.send(
      task_id,
      CreateTask.make({
        task_id,
        user_id,
        title: "Crash test",
        description: "",
        duration_minutes: minutes,
        difficulty: "high",
        blocks: [{ block_id, title: "The block", duration_minutes: minutes }],
        at
      })
    )
    yield* tasks.send(task_id, StartBlock.make({ task_id, user_id, block_id, at }))
    // Completed once its planned minutes passed (server time): the block earns its full pay.
    const completedAt = new Date(at.getTime() + minutes * 60_000)
    const done = yield* tasks.send(
      task_id,
      CompleteBlock.make({ task_id, user_id, block_id, at: completedAt })
    )
    return { user_id, done }
  })

describe("block credit process manager", () => {
  it.layer(TestLayer)("on an in-memory store", (it) => {
    it.effect("a BlockCompleted whose credit was lost (crash between the appends) is paid once", () =>
      Effect.gen(function* () {
        const { wallets } = yield* Aggregates
        const credits = yield* BlockCredits
        const { user_id } = yield* completeWithoutCredit(40)
        expect((yield* wallets.read(user_id)).state.balance).toBe(0)

        const first = yield* credits.runOnce
        expect(first.credited).toBe(1)
        const expected = tokensForBlock({ minutes: 40, difficulty: "high" })
        const wallet = (yield* wallets.read(user_id)).state
        // 52 tokens reach level 2, whose bonus (30) is paid with it: earned = block + bonus.
        expect(wallet.total_earned).toBe(expected + 30)
        expect(wallet.balance).toBe(wallet.total_earned)
        expect(Object.values(wallet.paid_blocks)).toEqual([expected])

        // Running again (a restart re-reading the log, or the next tick) pays nothing more.
        const second = yield* credits.runOnce
        expect(second.credited).toBe(0)
        expect((yield* wallets.read(user_id)).state.balance).toBe(wallet.balance)
      })
    )

    it.effect("a block the request already credited is not paid again by the process manager", () =>
      Effect.gen(function* () {
        const { wallets } = yield* Aggregates
        const credits = yield* BlockCredits
        const { user_id, done } = yield* completeWithoutCredit(30)
        const completed = done.events.find((e) => e._tag === "BlockCompleted")
        if (completed?._tag !== "BlockCompleted") throw new Error("no BlockCompleted")
        // What the HTTP request does right after the task's append.
        const paid = yield* wallets.send(user_id, creditFor(completed))
        const run = yield* credits.runOnce
        expect(run.credited).toBe(0)
        expect((yield* wallets.read(user_id)).state.balance).toBe(paid.state.balance)
      })
    )
  })
})

/** The aggregates with every wallet command counted, to see which commands the process manager sends. */
const walletCommands = { count: 0 }
const CountingAggregates = Layer.effect(
  Aggregates,
  Effect.map(Aggregates, (real) =>
    Aggregates.of({
      ...real,
      wallets: {
        ...real.wallets,
        send: (entityId, command, context) => {
          walletCommands.count++
          return real.wallets.send(entityId, command, context)
        }
      }
    })
  )
).pipe(Layer.provide(Aggregates.layer))

describe("block credit process manager, wallet commands", () => {
  // Fresh: the other suite's layer (same layer values) must not be shared with this one.
  it.layer(
    Layer.fresh(BlockCredits.layer).pipe(
      Layer.provideMerge(CountingAggregates),
      Layer.provideMerge(ActorSystem.layer),
      Layer.provideMerge(EventStoreSqliteMemory)
    )
  )("on an in-memory store", (it) => {
    it.effect("sends none for a block whose payment is already in the log, one for a block without", () =>
      Effect.gen(function* () {
        const { wallets } = yield* Aggregates
        const credits = yield* BlockCredits
        const paidBlock = yield* completeWithoutCredit(30)
        const completed = paidBlock.done.events.find((e) => e._tag === "BlockCompleted")
        if (completed?._tag !== "BlockCompleted") throw new Error("no BlockCompleted")
        yield* wallets.send(paidBlock.user_id, creditFor(completed))
        const unpaidBlock = yield* completeWithoutCredit(25)
        walletCommands.count = 0
        const run = yield* credits.runOnce
        expect(run.credited).toBe(1)
        expect(walletCommands.count).toBe(1)
        expect((yield* wallets.read(unpaidBlock.user_id)).state.balance).toBeGreaterThan(0)
      })
    )
  })
})
