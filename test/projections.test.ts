import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { BlockId, TaskId, UserId } from "../src/domain/ids.ts"
import { TaskCreated, TaskDeleted } from "../src/domain/task.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { appendTaskEvent } from "./support/taskEvents.ts"
import { TaskReadModel } from "../src/programs/taskReadModel.ts"

const created = (user_id: UserId, title: string) =>
  TaskCreated.make({
    task_id: TaskId.make(randomUUID()),
    user_id,
    title,
    description: "",
    duration_minutes: 25,
    difficulty: "medium",
    blocks: [{ block_id: BlockId.make(randomUUID()), title, duration_minutes: 25 }],
    at: new Date()
  })

describe("task index projection", () => {
  it.layer(TaskReadModel.layer.pipe(Layer.provideMerge(EventStoreSqliteMemory)))(
    "on an in-memory store",
    (it) => {
      it.effect(
        "catches up before answering: sees tasks written behind its back, per user, newest first",
        () =>
          Effect.gen(function* () {
            const index = yield* TaskReadModel
            const alice = UserId.make(randomUUID())
            const bob = UserId.make(randomUUID())
            expect((yield* index.page(alice, { limit: 100, offset: 0 })).items).toEqual([])
            const first = created(alice, "First")
            const second = created(alice, "Second")
            const bobs = created(bob, "Bob's")
            yield* appendTaskEvent(first, "noStream")
            yield* appendTaskEvent(bobs, "noStream")
            yield* appendTaskEvent(second, "noStream")
            expect((yield* index.page(alice, { limit: 100, offset: 0 })).items.map((t) => t.title)).toEqual([
              "Second",
              "First"
            ])
            expect((yield* index.page(bob, { limit: 100, offset: 0 })).items.map((t) => t.title)).toEqual([
              "Bob's"
            ])
            yield* appendTaskEvent(
              TaskDeleted.make({ task_id: first.task_id, user_id: alice, at: new Date() }),
              1
            )
            expect((yield* index.page(alice, { limit: 100, offset: 0 })).items.map((t) => t.title)).toEqual([
              "Second"
            ])
          })
      )
    }
  )
})
