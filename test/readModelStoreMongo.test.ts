import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { MongoClient } from "mongodb"
import type { ActionRow, TaskRow } from "../src/eventsourcing/ReadModelStore.ts"
import { IN_PROGRESS_TOUCH } from "../src/eventsourcing/ReadModelStore.ts"
import { EventStoreError } from "../src/eventsourcing/EventStore.ts"
import {
  ACTION_INDEXES,
  actionDocument,
  actionOf,
  bounded,
  makeMongoReadModels,
  mongoReadModelStore,
  READ_MODEL_COLLECTIONS,
  TASK_INDEXES,
  taskDocument,
  taskOf
} from "../src/layers/eventstore/ReadModelStoreMongo.ts"

// These run without a server: the pure parts of the MongoDB read models and their bounds (the
// behaviour itself is test/conformance/readModelSuite.ts, run against MongoDB when MONGODB_URI is set).

/**
 * Nothing listens on port 9 (discard) on loopback, and server selection waits a minute: longer than any
 * bound below, so a failure before that minute is the store's own deadline (the tests move the
 * TestClock, the driver's timers run on the real one).
 */
const unreachable = () =>
  new MongoClient("mongodb://127.0.0.1:9/?directConnection=true", {
    serverSelectionTimeoutMS: 60_000,
    connectTimeoutMS: 200
  })

const closing = (client: MongoClient) => Effect.promise(() => client.close())

/**
 * Moves the TestClock to just before the bound, then onto it: the fiber must still be waiting before,
 * and done right after (the driver alone would wait its real minute of server selection).
 */
const atTheBound = <A, E>(fiber: Fiber.Fiber<A, E>, boundMs: number) =>
  Effect.gen(function* () {
    yield* TestClock.adjust(`${boundMs - 1} millis`)
    expect(fiber.pollUnsafe()).toBeUndefined()
    yield* TestClock.adjust("1 millis")
    for (let i = 0; i < 10 && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    expect(fiber.pollUnsafe()).toBeDefined()
    return yield* Fiber.join(fiber)
  })

const row: TaskRow = {
  task_id: "t-1",
  user_id: "u-1",
  status: "in_progress",
  created_at: 1_700_000_000_000,
  updated_at: 1_700_000_000_500,
  touched_at: IN_PROGRESS_TOUCH,
  state: { title: "x", $set: { "a.b": [1, null, { deep: true }] } }
}

const planned: ActionRow = {
  action_id: "a-1",
  user_id: "u-1",
  status: "pending",
  due_at: null,
  seq: 7,
  created_at: 5,
  state: { kind: "reminder" }
}

describe("ReadModelStoreMongo (pure parts)", () => {
  it("keeps a row's id as _id and its state as JSON text, and gives the row back unchanged", () => {
    const doc = taskDocument(row)
    expect(doc._id).toBe("t-1")
    expect(doc).not.toHaveProperty("task_id")
    // Text, not a sub-document: `$`-prefixed and dotted keys are not BSON-safe field names.
    expect(doc.state).toBe(JSON.stringify(row.state))
    expect(taskOf(doc)).toEqual(row)
    const action = actionDocument(planned)
    expect(action._id).toBe("a-1")
    expect(action.due_at).toBeNull()
    expect(actionOf(action)).toEqual(planned)
  })

  it("refuses a state with no JSON text, as SQLite does", () => {
    expect(() => taskDocument({ ...row, state: undefined })).toThrow(TypeError)
    expect(() => actionDocument({ ...planned, state: () => 1 })).toThrow(TypeError)
  })

  it("indexes the queries' filters, ending in the field that breaks the sort's ties", () => {
    expect(READ_MODEL_COLLECTIONS).toEqual({
      checkpoints: "subscription_checkpoints",
      tasks: "rm_tasks",
      actions: "rm_actions"
    })
    expect(TASK_INDEXES.map((i) => i.key)).toEqual([
      { user_id: 1, created_at: 1 },
      { user_id: 1, status: 1, created_at: 1, _id: 1 },
      { user_id: 1, updated_at: 1, _id: 1 },
      { user_id: 1, touched_at: 1 }
    ])
    expect(ACTION_INDEXES.map((i) => i.key)).toEqual([
      { user_id: 1, created_at: -1, seq: 1 },
      { status: 1, due_at: 1, _id: 1 }
    ])
  })

  it("reads a zero or negative bound as none, never as MongoDB's 'no limit'", () => {
    expect([bounded(-3), bounded(0), bounded(7)]).toEqual([0, 0, 7])
  })

  it.effect("a server that cannot be reached is a typed EventStoreError, never a raw driver error", () =>
    Effect.gen(function* () {
      // Port 9 (discard) on loopback: nothing listens, so server selection fails.
      const client = new MongoClient("mongodb://127.0.0.1:9/?directConnection=true", {
        serverSelectionTimeoutMS: 200,
        connectTimeoutMS: 200
      })
      const failure = yield* Effect.flip(
        makeMongoReadModels(client, client.db("focusforge_unreachable"), { operationTimeoutMs: 60_000 })
      )
      yield* closing(client)
      expect(failure).toBeInstanceOf(EventStoreError)
      expect(failure.operation).toBe("init")
    })
  )

  it.effect("init gives up at operationTimeoutMs as a retryable timeout, not at server selection", () =>
    Effect.gen(function* () {
      const client = unreachable()
      const fiber = yield* makeMongoReadModels(client, client.db("focusforge_unreachable"), {
        operationTimeoutMs: 2_000
      }).pipe(Effect.flip, Effect.forkChild)
      const failure = yield* atTheBound(fiber, 2_000).pipe(Effect.ensuring(closing(client)))
      expect(failure).toBeInstanceOf(EventStoreError)
      expect(failure.operation).toBe("init")
      expect(failure.reason).toBe("timeout")
      expect(failure.message).toContain("no answer within 2000 ms")
    })
  )

  it.effect("bounds every operation (checkpoint, commit, reset, each query) by operationTimeoutMs", () =>
    Effect.gen(function* () {
      const client = unreachable()
      const store = mongoReadModelStore(client, client.db("focusforge_unreachable"), {
        operationTimeoutMs: 3_000
      })
      const operations = {
        checkpoint: store.checkpoint("tasks"),
        commit: store.commit("tasks", 1, 0, 1, [{ table: "tasks", row }]),
        reset: store.reset("tasks", 1, ["tasks", "actions"]),
        tasksByIds: store.tasks.byIds(["t-1"]),
        tasksPage: store.tasks.page("u-1", { statuses: ["pending"], limit: 10, offset: 0 }),
        tasksRecentlyUpdated: store.tasks.recentlyUpdated("u-1", ["pending"], 5),
        tasksCounts: store.tasks.counts("u-1"),
        tasksTouchedSince: store.tasks.touchedSince("u-1", 0),
        tasksUpdatedSince: store.tasks.updatedSince("u-1", ["pending"], 0),
        actionsByIds: store.actions.byIds(["a-1"]),
        actionsOfUser: store.actions.ofUser("u-1", 5),
        actionsOpen: store.actions.open({ userId: "u-1", limit: 5 }),
        actionsCounts: store.actions.counts
      }
      const fiber = yield* Effect.all(
        Object.values(operations).map((operation) =>
          Effect.flip(operation).pipe(
            Effect.map((failure) => ({
              tag: failure._tag,
              operation: failure._tag === "EventStoreError" ? failure.operation : undefined,
              reason: failure._tag === "EventStoreError" ? failure.reason : undefined,
              bound: failure.message.includes("no answer within 3000 ms")
            }))
          )
        ),
        { concurrency: "unbounded" }
      ).pipe(Effect.forkChild)
      const failures = yield* atTheBound(fiber, 3_000).pipe(Effect.ensuring(closing(client)))
      const timeout = (operation: string) => ({
        tag: "EventStoreError",
        operation,
        reason: "timeout",
        bound: true
      })
      expect(failures).toEqual([
        timeout("checkpoint"),
        timeout("commit"),
        timeout("reset"),
        ...Array.from({ length: 10 }, () => timeout("readModel"))
      ])
    })
  )
})
