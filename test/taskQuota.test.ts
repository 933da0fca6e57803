import { describe, expect, it } from "@effect/vitest"
import { Clock, ConfigProvider, Effect, Layer, Result, Stream } from "effect"
import { TestClock } from "effect/testing"
import fc from "fast-check"
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { TaskId, UserId } from "../src/domain/ids.ts"
import {
  decideTaskQuota,
  evolveTaskQuota,
  initialTaskQuotaState,
  openTasks,
  ReserveTaskSlot,
  type TaskQuotaState,
  TooManyOpenTasks
} from "../src/domain/taskQuota.ts"
import { EventStore, type EventStoreError } from "../src/eventsourcing/EventStore.ts"
import { EventStoreSqliteMemory, layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Aggregates } from "../src/programs/aggregates.ts"
import type { ReadModelStore } from "../src/eventsourcing/ReadModelStore.ts"
import { TaskReadModel } from "../src/programs/taskReadModel.ts"
import { HeuristicTaskBreakdown } from "../src/programs/taskBreakdown.ts"
import { RESERVATION_HOLD_MS } from "../src/programs/taskQuota.ts"
import { Tasks } from "../src/programs/tasks.ts"
import { tempDataDir } from "./support/server.ts"

/** Issue 16: at most MAX_OPEN_TASKS open (not completed, not deleted) tasks per user, on every instance. */

const user = UserId.make("quota-user")
const id = () => TaskId.make(randomUUID())
const at = (ms: number) => new Date(ms)

const reserve = (
  state: TaskQuotaState,
  taskId: TaskId,
  log: { open: ReadonlyArray<TaskId>; closed: ReadonlyArray<TaskId> },
  ms: number,
  limit = 3
) =>
  decideTaskQuota(
    state,
    ReserveTaskSlot.make({ user_id: user, task_id: taskId, log, limit, hold_ms: 60_000, at: at(ms) })
  )

const apply = (state: TaskQuotaState, decision: ReturnType<typeof reserve>) =>
  Result.isSuccess(decision) ? decision.success.reduce(evolveTaskQuota, state) : state

describe("the open-task quota decider", () => {
  it("counts the log's open tasks plus reservations the log does not know yet", () => {
    const [a, b, c] = [id(), id(), id()]
    let state = initialTaskQuotaState
    state = apply(state, reserve(state, a, { open: [], closed: [] }, 0))
    state = apply(state, reserve(state, b, { open: [a], closed: [] }, 1))
    // "a" is in the log and reserved: counted once. "b" is not in the log yet: counted as reserved.
    expect(openTasks(state, { open: [a], closed: [] }, at(2), 60_000).count).toBe(2)
    state = apply(state, reserve(state, c, { open: [a], closed: [] }, 2))
    const refused = reserve(state, id(), { open: [a, c], closed: [] }, 3)
    expect(Result.isFailure(refused) && refused.failure).toBeInstanceOf(TooManyOpenTasks)
    expect(Result.isFailure(refused) && refused.failure.details).toEqual({ limit: 3, open: 3 })
  })

  it("tasks older than the quota (in the log, never reserved) count too", () => {
    const refused = reserve(initialTaskQuotaState, id(), { open: [id(), id(), id()], closed: [] }, 0)
    expect(Result.isFailure(refused)).toBe(true)
  })

  it("a closed task frees its slot; the reservation is released with the next one", () => {
    const [a, b, c, d] = [id(), id(), id(), id()]
    let state = initialTaskQuotaState
    for (const [i, task] of [a, b, c].entries()) {
      state = apply(state, reserve(state, task, { open: [], closed: [] }, i))
    }
    const next = reserve(state, d, { open: [b], closed: [a, c] }, 10)
    expect(Result.isSuccess(next) && next.success.map((e) => e._tag)).toEqual([
      "TaskSlotsReleased",
      "TaskSlotReserved"
    ])
    expect(apply(state, next).reservations.map((r) => r.task_id)).toEqual([b, d])
  })

  it("a reservation whose task never appeared (a crash between the appends) expires after the hold", () => {
    let state = initialTaskQuotaState
    for (let i = 0; i < 3; i++) state = apply(state, reserve(state, id(), { open: [], closed: [] }, i))
    expect(Result.isFailure(reserve(state, id(), { open: [], closed: [] }, 59_999))).toBe(true)
    const later = reserve(state, id(), { open: [], closed: [] }, 60_002)
    expect(Result.isSuccess(later)).toBe(true)
    expect(apply(state, later).reservations).toHaveLength(1)
  })

  it("a retried reservation for the same task changes nothing", () => {
    const a = id()
    const state = apply(initialTaskQuotaState, reserve(initialTaskQuotaState, a, { open: [], closed: [] }, 0))
    expect(reserve(state, a, { open: [], closed: [] }, 1)).toEqual(Result.succeed([]))
  })

  it("property: whatever the order, open tasks never exceed the limit and reservations stay bounded", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(
          fc.record({
            kind: fc.constantFrom("create", "create", "close", "crash"),
            pick: fc.nat(),
            dt: fc.nat(40_000)
          }),
          { maxLength: 60 }
        ),
        (limit, steps) => {
          let state = initialTaskQuotaState
          const open: Array<TaskId> = []
          const closed: Array<TaskId> = []
          let now = 0
          for (const step of steps) {
            now += step.dt
            if (step.kind === "close" && open.length > 0) {
              const [gone] = open.splice(step.pick % open.length, 1)
              if (gone !== undefined) closed.push(gone)
              continue
            }
            const task = id()
            const decision = reserve(state, task, { open: [...open], closed: [...closed] }, now, limit)
            state = apply(state, decision)
            // A crash leaves the reservation without its task; otherwise the task is created.
            if (Result.isSuccess(decision) && step.kind === "create") open.push(task)
            const counted = openTasks(state, { open, closed }, at(now), 60_000).count
            expect(open.length).toBeLessThanOrEqual(limit)
            expect(counted).toBeLessThanOrEqual(limit)
            expect(state.reservations.length).toBeLessThanOrEqual(limit)
          }
        }
      )
    )
  })
})

const stack = (store: Layer.Layer<EventStore | ReadModelStore, EventStoreError>, limit: number) =>
  Tasks.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(Aggregates.layer, TaskReadModel.layer, HeuristicTaskBreakdown)),
    Layer.provideMerge(ActorSystem.layer),
    Layer.provideMerge(store),
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ MAX_OPEN_TASKS: String(limit) })))
  )

const newTask = { title: "Focus", description: "", duration_minutes: 25, difficulty: "medium" } as const

const taskCreations = Effect.flatMap(EventStore, (store) =>
  Stream.runCollect(store.readAll()).pipe(
    Effect.map((events) => events.filter((e) => e.type === "TaskCreated").length)
  )
)

describe("the task program under MAX_OPEN_TASKS", () => {
  it.layer(stack(EventStoreSqliteMemory, 3))("MAX_OPEN_TASKS=3", (it) => {
    it.effect(
      "past the cap a creation is TooManyOpenTasks and writes nothing; delete or complete frees a slot",
      () =>
        Effect.gen(function* () {
          const tasks = yield* Tasks
          const owner = UserId.make(`u-${randomUUID()}`)
          const created = yield* Effect.forEach([1, 2, 3], () => tasks.create(owner, newTask))
          const before = yield* taskCreations
          const refused = yield* Effect.flip(tasks.create(owner, newTask))
          expect(refused).toBeInstanceOf(TooManyOpenTasks)
          expect(refused).toMatchObject({ details: { limit: 3, open: 3 } })
          expect(yield* taskCreations).toBe(before)
          // Another user is not affected.
          yield* tasks.create(UserId.make(`u-${randomUUID()}`), newTask)

          const [first, second] = created
          if (first === undefined || second === undefined) throw new Error("no tasks")
          yield* tasks.remove(owner, first.id)
          yield* tasks.create(owner, newTask)
          expect(yield* Effect.flip(tasks.create(owner, newTask))).toBeInstanceOf(TooManyOpenTasks)

          const block = second.blocks[0]
          if (block === undefined) throw new Error("no block")
          yield* tasks.startBlock(owner, second.id, block.id)
          yield* TestClock.adjust("25 minutes")
          const done = yield* tasks.completeBlock(owner, second.id, block.id, {})
          expect(done.task.status).toBe("completed")
          yield* tasks.create(owner, newTask)
          expect(yield* Effect.flip(tasks.create(owner, newTask))).toBeInstanceOf(TooManyOpenTasks)
        })
    )

    it.effect("20 concurrent creations at a cap of 3: exactly 3 tasks", () =>
      Effect.gen(function* () {
        const tasks = yield* Tasks
        const owner = UserId.make(`u-${randomUUID()}`)
        const results = yield* Effect.forEach(
          Array.from({ length: 20 }),
          () => Effect.result(tasks.create(owner, newTask)),
          { concurrency: "unbounded" }
        )
        expect(results.filter(Result.isSuccess)).toHaveLength(3)
        expect(results.filter(Result.isFailure).every((r) => r.failure instanceof TooManyOpenTasks)).toBe(
          true
        )
        expect((yield* (yield* TaskReadModel).page(owner, { limit: 100, offset: 0 })).total).toBe(3)
      })
    )

    it.effect("a reservation left by a crash holds its slot only until the hold expires", () =>
      Effect.gen(function* () {
        const tasks = yield* Tasks
        const { taskQuotas } = yield* Aggregates
        const owner = UserId.make(`u-${randomUUID()}`)
        yield* Effect.forEach([1, 2], () => tasks.create(owner, newTask))
        // The process reserved a slot and died before creating the task.
        yield* taskQuotas.send(
          owner,
          ReserveTaskSlot.make({
            user_id: owner,
            task_id: id(),
            log: yield* (yield* TaskReadModel).taskLogOf(owner, 0),
            limit: 3,
            hold_ms: RESERVATION_HOLD_MS,
            at: new Date(yield* Clock.currentTimeMillis)
          })
        )
        expect(yield* Effect.flip(tasks.create(owner, newTask))).toBeInstanceOf(TooManyOpenTasks)
        yield* TestClock.adjust(RESERVATION_HOLD_MS)
        yield* tasks.create(owner, newTask)
        expect(yield* Effect.flip(tasks.create(owner, newTask))).toBeInstanceOf(TooManyOpenTasks)
      })
    )

    it.effect("tasks written before the quota existed (no quota stream) count", () =>
      Effect.gen(function* () {
        const store = yield* EventStore
        const owner = UserId.make(`u-${randomUUID()}`)
        for (let i = 0; i < 3; i++) {
          const taskId = randomUUID()
          yield* store.append(`task-${taskId}`, "noStream", [
            {
              eventId: randomUUID(),
              type: "TaskCreated",
              data: {
                _tag: "TaskCreated",
                task_id: taskId,
                user_id: owner,
                title: "Old",
                description: "",
                duration_minutes: 25,
                difficulty: "low",
                blocks: [{ block_id: randomUUID(), title: "Old", duration_minutes: 25 }],
                at: new Date(0).toISOString()
              },
              metadata: { timestamp: new Date(0).toISOString() }
            }
          ])
        }
        expect(yield* Effect.flip((yield* Tasks).create(owner, newTask))).toBeInstanceOf(TooManyOpenTasks)
      })
    )
  })

  it.live("two instances on one store: 20 creations split between them, exactly 3 tasks", () =>
    Effect.gen(function* () {
      const filename = join(tempDataDir(), "focusforge.db")
      const [one, two] = yield* Effect.all([
        Layer.build(stack(layerSqlite({ filename }), 3)),
        Layer.build(stack(layerSqlite({ filename }), 3))
      ])
      const owner = UserId.make(`u-${randomUUID()}`)
      const results = yield* Effect.forEach(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two)),
        (instance) =>
          Effect.result(Effect.flatMap(Tasks, (tasks) => tasks.create(owner, newTask))).pipe(
            Effect.provide(instance)
          ),
        { concurrency: "unbounded" }
      )
      expect(results.filter(Result.isSuccess)).toHaveLength(3)
      const listed = yield* Effect.flatMap(TaskReadModel, (index) =>
        Effect.map(index.page(owner, { limit: 100, offset: 0 }), (p) => p.items)
      ).pipe(Effect.provide(two))
      expect(listed).toHaveLength(3)
    }).pipe(Effect.scoped)
  )
})
