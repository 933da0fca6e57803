import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream } from "effect"
import { randomUUID } from "node:crypto"
import { BlockId, TaskId, UserId } from "../../src/domain/ids.ts"
import { BlockCompleted, BlockStarted, TaskCreated, TaskDeleted } from "../../src/domain/task.ts"
import { ReadModelStore, type TaskRow } from "../../src/eventsourcing/ReadModelStore.ts"
import { EventStore, EventStoreError } from "../../src/eventsourcing/EventStore.ts"
import { appendTaskEvent } from "../support/taskEvents.ts"
import { TaskReadModel } from "../../src/programs/taskReadModel.ts"

type Store = Layer.Layer<ReadModelStore | EventStore, unknown>

export interface SubscriptionTarget {
  /** Each call of the returned function is a new layer (a new "process") on the same storage. */
  readonly reopenable: () => () => Store
}

const TOKENS = 25

/** A task with one block, started and completed (`TOKENS` earned): a fold that must add them once. */
const completedTask = (user_id: UserId, title: string) =>
  Effect.gen(function* () {
    const task_id = TaskId.make(randomUUID())
    const block_id = BlockId.make(randomUUID())
    const at = new Date()
    yield* appendTaskEvent(
      TaskCreated.make({
        task_id,
        user_id,
        title,
        description: "",
        duration_minutes: 25,
        difficulty: "medium",
        blocks: [{ block_id, title, duration_minutes: 25 }],
        at
      }),
      "noStream"
    )
    yield* appendTaskEvent(BlockStarted.make({ task_id, user_id, block_id, at }), 1)
    yield* appendTaskEvent(
      BlockCompleted.make({
        task_id,
        user_id,
        block_id,
        duration_minutes: 25,
        difficulty: "medium",
        started_at: at,
        tokens_earned: TOKENS,
        at
      }),
      2
    )
    return task_id
  })

const everything = { limit: 1000, offset: 0 } as const

/** The task read model over `store`, with a count of the events its `readAll` calls delivered. */
const countingReads = (store: Store) => {
  const delivered = { count: 0 }
  const counting = Layer.effect(
    EventStore,
    Effect.map(EventStore, (inner) =>
      EventStore.of({
        ...inner,
        readAll: (options) =>
          inner.readAll(options).pipe(Stream.tap(() => Effect.sync(() => delivered.count++)))
      })
    )
  )
  const layer = TaskReadModel.layer.pipe(Layer.provideMerge(counting), Layer.provideMerge(store))
  return { layer, delivered }
}

/** The task read model over `store`, whose first `failures` commits fail after the fold ran. */
const failingCommits = (store: Store, failures: number) => {
  const state = { left: failures, folded: 0 }
  const failing = Layer.effect(
    ReadModelStore,
    Effect.map(ReadModelStore, (inner) =>
      ReadModelStore.of({
        ...inner,
        commit: (name, version, from, to, writes) =>
          Effect.suspend(() => {
            state.folded++
            if (state.left > 0) {
              state.left--
              return Effect.fail(
                new EventStoreError({ operation: "commit", message: "crashed before commit" })
              )
            }
            return inner.commit(name, version, from, to, writes)
          })
      })
    )
  )
  return { layer: TaskReadModel.layer.pipe(Layer.provideMerge(failing), Layer.provideMerge(store)), state }
}

const rowsOf = (userId: string) =>
  Effect.flatMap(ReadModelStore, (rm) =>
    rm.tasks.page(userId, {
      statuses: ["pending", "in_progress", "completed", "deleted"],
      limit: 1000,
      offset: 0
    })
  ).pipe(
    Effect.map(({ rows }) => [...rows].sort((a: TaskRow, b: TaskRow) => (a.task_id < b.task_id ? -1 : 1)))
  )

/**
 * What a subscription guarantees on any store (issue 18): a durable checkpoint, exactly-once effect
 * on its rows, rebuilds to the same rows, and no double application by two processes.
 */
export const subscriptionSuite = (name: string, target: SubscriptionTarget) =>
  describe(`subscriptions: ${name}`, () => {
    it.live(
      "the checkpoint survives a restart: a new process answers its first listing without replaying",
      () =>
        Effect.gen(function* () {
          const open = target.reopenable()
          const user = UserId.make(randomUUID())
          yield* Effect.scoped(
            Effect.gen(function* () {
              const first = yield* Layer.build(TaskReadModel.layer.pipe(Layer.provideMerge(open())))
              yield* Effect.forEach([1, 2, 3, 4, 5], (i) => completedTask(user, `Task ${i}`)).pipe(
                Effect.provideContext(first)
              )
              const listed = yield* TaskReadModel.pipe(
                Effect.flatMap((m) => m.page(user, everything)),
                Effect.provideContext(first)
              )
              expect(listed.total).toBe(5)
            })
          )
          const again = countingReads(open())
          const page = yield* Effect.scoped(
            Effect.flatMap(Layer.build(again.layer), (context) =>
              TaskReadModel.pipe(
                Effect.flatMap((m) => m.page(user, everything)),
                Effect.provideContext(context)
              )
            )
          )
          expect(page.total).toBe(5)
          expect(page.items.every((t) => t.tokens_earned === TOKENS)).toBe(true)
          expect(again.delivered.count).toBe(0)
        })
    )

    it.live(
      "a crash between the fold and the checkpoint: the events are folded again, their effect is once",
      () =>
        Effect.gen(function* () {
          const open = target.reopenable()
          const user = UserId.make(randomUUID())
          const crashing = failingCommits(open(), 1)
          yield* Effect.scoped(
            Effect.gen(function* () {
              const context = yield* Layer.build(crashing.layer)
              const run = <A, E>(effect: Effect.Effect<A, E, TaskReadModel | EventStore | ReadModelStore>) =>
                Effect.provideContext(effect, context)
              yield* run(completedTask(user, "Crash"))
              const model = yield* run(TaskReadModel)
              // The first commit "crashes": the listing cannot answer consistently, and says so.
              const refused = yield* Effect.flip(model.page(user, everything))
              expect(refused._tag).toBe("Overloaded")
              const page = yield* model.page(user, everything)
              expect(page.items.map((t) => t.tokens_earned)).toEqual([TOKENS])
              expect(crashing.state.folded).toBe(2)
              const rerun = yield* model.subscription.run
              expect(rerun.folded).toBe(0)
            })
          )
        })
    )

    it.live("a rebuild from position 1 gives the same rows", () =>
      Effect.gen(function* () {
        const open = target.reopenable()
        const user = UserId.make(randomUUID())
        yield* Effect.scoped(
          Effect.gen(function* () {
            const context = yield* Layer.build(TaskReadModel.layer.pipe(Layer.provideMerge(open())))
            const run = <A, E>(effect: Effect.Effect<A, E, TaskReadModel | EventStore | ReadModelStore>) =>
              Effect.provideContext(effect, context)
            const kept = yield* run(completedTask(user, "Kept"))
            const gone = yield* run(completedTask(user, "Gone"))
            yield* run(appendTaskEvent(TaskDeleted.make({ task_id: gone, user_id: user, at: new Date() }), 3))
            const model = yield* run(TaskReadModel)
            expect((yield* model.page(user, everything)).items.map((t) => t.id)).toEqual([kept])
            const before = yield* run(rowsOf(user))
            expect(before).toHaveLength(2)
            yield* model.subscription.rebuild
            expect(yield* run(rowsOf(user))).toEqual([])
            yield* model.subscription.run
            expect(yield* run(rowsOf(user))).toEqual(before)
          })
        )
      })
    )

    it.live("a rebuild started by another process is refolded by this one's next background run", () =>
      Effect.gen(function* () {
        const open = target.reopenable()
        const user = UserId.make(randomUUID())
        yield* Effect.scoped(
          Effect.gen(function* () {
            const [server, tool] = yield* Effect.all([
              Layer.build(TaskReadModel.layer.pipe(Layer.provideMerge(open()))),
              Layer.build(TaskReadModel.layer.pipe(Layer.provideMerge(open())))
            ])
            const onServer = <A, E>(
              effect: Effect.Effect<A, E, TaskReadModel | EventStore | ReadModelStore>
            ) => Effect.provideContext(effect, server)
            yield* onServer(completedTask(user, "Kept"))
            const model = yield* onServer(TaskReadModel)
            expect((yield* model.page(user, everything)).total).toBe(1)
            // The rebuild command, interrupted after dropping the rows: only the server can finish it.
            yield* Effect.provideContext(
              Effect.flatMap(TaskReadModel, (m) => m.subscription.rebuild),
              tool
            )
            const rerun = yield* model.subscription.run
            expect(rerun.folded).toBeGreaterThan(0)
            const page = yield* model.page(user, everything)
            expect(page.items.map((t) => [t.title, t.tokens_earned])).toEqual([["Kept", TOKENS]])
          })
        )
      })
    )

    it.live("a fold of another version empties the table and rebuilds it", () =>
      Effect.gen(function* () {
        const open = target.reopenable()
        const user = UserId.make(randomUUID())
        yield* Effect.scoped(
          Effect.gen(function* () {
            const context = yield* Layer.build(open())
            const run = <A, E>(effect: Effect.Effect<A, E, EventStore | ReadModelStore>) =>
              Effect.provideContext(effect, context)
            yield* run(completedTask(user, "Real"))
            const head = yield* run(Effect.flatMap(EventStore, (s) => s.head))
            // What an older build left: its checkpoint at the head, and a row the new fold would not write.
            yield* run(
              Effect.flatMap(ReadModelStore, (rm) =>
                rm.commit("tasks", 0, 0, head, [
                  {
                    table: "tasks",
                    row: {
                      task_id: "stale",
                      user_id: user,
                      status: "pending",
                      created_at: 0,
                      updated_at: 0,
                      touched_at: 0,
                      state: { task: null, deleted: false }
                    }
                  }
                ])
              )
            )
          })
        )
        const page = yield* Effect.scoped(
          Effect.flatMap(Layer.build(TaskReadModel.layer.pipe(Layer.provideMerge(open()))), (context) =>
            TaskReadModel.pipe(
              Effect.flatMap((m) => m.page(user, everything)),
              Effect.provideContext(context)
            )
          )
        )
        expect(page.items.map((t) => t.title)).toEqual(["Real"])
        expect(page.items[0]?.tokens_earned).toBe(TOKENS)
      })
    )

    it.live("two processes folding one store concurrently never apply an event twice", () =>
      Effect.gen(function* () {
        const open = target.reopenable()
        const user = UserId.make(randomUUID())
        yield* Effect.scoped(
          Effect.gen(function* () {
            const [one, two] = yield* Effect.all(
              [
                Layer.build(TaskReadModel.layer.pipe(Layer.provideMerge(open()))),
                Layer.build(TaskReadModel.layer.pipe(Layer.provideMerge(open())))
              ],
              { concurrency: 2 }
            )
            const listBoth = Effect.all(
              [one, two].map((context) =>
                TaskReadModel.pipe(
                  Effect.flatMap((m) => m.subscription.run),
                  Effect.provideContext(context)
                )
              ),
              { concurrency: 2 }
            )
            for (let i = 0; i < 12; i++) {
              yield* Effect.provideContext(completedTask(user, `Task ${i}`), i % 2 === 0 ? one : two)
              yield* listBoth
            }
            for (const context of [one, two]) {
              const page = yield* TaskReadModel.pipe(
                Effect.flatMap((m) => m.page(user, everything)),
                Effect.provideContext(context)
              )
              expect(page.total).toBe(12)
              expect(page.items.map((t) => t.tokens_earned)).toEqual(Array.from({ length: 12 }, () => TOKENS))
            }
          })
        )
      })
    )
  })
