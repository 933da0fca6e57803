import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { MongoClient } from "mongodb"
import type { ActionRow, TaskRow } from "../src/eventsourcing/ReadModelStore.ts"
import { IN_PROGRESS_TOUCH } from "../src/eventsourcing/ReadModelStore.ts"
import { EventStoreError } from "../src/layers/EventStore.ts"
import {
  ACTION_INDEXES,
  actionDocument,
  actionOf,
  bounded,
  makeMongoReadModels,
  READ_MODEL_COLLECTIONS,
  TASK_INDEXES,
  taskDocument,
  taskOf
} from "../src/layers/ReadModelStoreMongo.ts"

// These run without a server: the pure parts of the MongoDB read models (the behaviour itself is
// test/conformance/readModelSuite.ts, run against MongoDB when MONGODB_URI is set).

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

  it("indexes the queries' filters, ending in _id where the sort breaks ties by id", () => {
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
      { user_id: 1, created_at: -1, _id: 1 },
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
      const failure = yield* Effect.flip(makeMongoReadModels(client, client.db("focusforge_unreachable")))
      yield* Effect.promise(() => client.close())
      expect(failure).toBeInstanceOf(EventStoreError)
      expect(failure.operation).toBe("init")
    })
  )
})
