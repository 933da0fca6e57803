/**
 * bench/support/readmodelStore.ts, checked without timing: the store it generates is one the server's
 * own programs read as they would read a store they wrote (every event decodes with its decider's
 * schema, the task index and the planner list the known user's tasks and actions, every completed
 * block is paid once, the block-credit checkpoint is at the head). A real SQLite file, 2k events.
 */
import { Effect, Layer, Option, Schema, Stream } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import * as Os from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type GeneratedStore, generateStore } from "../bench/support/readmodelStore.ts"
import { UserId } from "../src/domain/ids.ts"
import { MoodLogged } from "../src/domain/mood.ts"
import { ActionEvent } from "../src/domain/planner.ts"
import { TaskEvent } from "../src/domain/task.ts"
import { WalletEvent } from "../src/domain/wallet.ts"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { LEGACY_CHECKPOINT_STREAM } from "../src/programs/blockCredits.ts"
import { makePlanner } from "../src/programs/planner/Planner.ts"
import type { ReadModelStore } from "../src/eventsourcing/ReadModelStore.ts"
import { TaskReadModel } from "../src/programs/taskReadModel.ts"

const KNOWN = "known-user-of-the-bench"

describe("bench/support/readmodelStore.ts", () => {
  let dir = ""
  let filename = ""
  let generated: GeneratedStore

  beforeAll(async () => {
    dir = mkdtempSync(join(Os.tmpdir(), "ff-readmodels-test-"))
    filename = join(dir, "focusforge.db")
    generated = await generateStore({
      filename,
      events: 2000,
      knownUserId: KNOWN,
      knownTasks: 30,
      knownActions: 7
    })
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const run = <A, E>(effect: Effect.Effect<A, E, EventStore | ReadModelStore | TaskReadModel>) =>
    Effect.runPromise(
      Effect.scoped(
        effect.pipe(Effect.provide(TaskReadModel.layer.pipe(Layer.provideMerge(layerSqlite({ filename })))))
      )
    )

  it("writes at least the events asked for, over many users, the known user among them", async () => {
    expect(generated.events).toBeGreaterThanOrEqual(2000)
    expect(generated.users).toBeGreaterThan(15)
    expect(generated.head).toBe(generated.events)
    expect(generated.knownUser.id).toBe(KNOWN)
    expect(generated.knownUser.actions).toBe(7)
    // 5 % of tasks are deleted: the listing holds the live ones.
    expect(generated.knownUser.tasks).toBeGreaterThan(20)
    expect(generated.knownUser.tasks).toBeLessThanOrEqual(30)
  })

  it("stores only events that decode with their decider's schema, under the decider's stream prefix", async () => {
    const schemas: Record<string, Schema.Codec<unknown, unknown>> = {
      task: TaskEvent as Schema.Codec<unknown, unknown>,
      wallet: WalletEvent as Schema.Codec<unknown, unknown>,
      mood: MoodLogged as Schema.Codec<unknown, unknown>,
      planaction: ActionEvent as Schema.Codec<unknown, unknown>
    }
    const prefixes = await run(
      Effect.gen(function* () {
        const store = yield* EventStore
        const seen = new Set<string>()
        yield* store.readAll().pipe(
          Stream.runForEach((stored) =>
            Effect.sync(() => {
              const prefix = stored.streamId.slice(0, stored.streamId.indexOf("-"))
              seen.add(prefix)
              const schema = schemas[prefix]
              expect(schema, stored.streamId).toBeDefined()
              const decoded = Schema.decodeUnknownSync(schema!)(stored.data) as { readonly _tag: string }
              expect(stored.type).toBe(decoded._tag)
            })
          )
        )
        return seen
      })
    )
    expect([...prefixes].sort()).toEqual(["mood", "planaction", "task", "wallet"])
  })

  it("is read by the server's task index and planner as the known user's tasks and actions", async () => {
    const [tasks, actions] = await run(
      Effect.gen(function* () {
        const index = yield* TaskReadModel
        const planner = yield* makePlanner
        return [
          (yield* index.page(UserId.make(KNOWN), { limit: 1000, offset: 0 })).items,
          yield* planner.actions(KNOWN)
        ] as const
      })
    )
    expect(tasks.length).toBe(generated.knownUser.tasks)
    expect(new Set(tasks.map((t) => t.user_id))).toEqual(new Set([KNOWN]))
    expect(tasks.some((t) => t.status === "completed")).toBe(true)
    expect(actions.length).toBe(7)
    expect(new Set(actions.map((a) => a.status))).toEqual(new Set(["completed", "pending"]))
  })

  it("pays every completed block once and leaves the block-credit checkpoint at the head", async () => {
    const db = new DatabaseSync(filename, { readOnly: true })
    try {
      const count = (type: string) =>
        Number((db.prepare("SELECT COUNT(*) AS n FROM events WHERE type = ?").get(type) as { n: number }).n)
      expect(count("BlockCompleted")).toBeGreaterThan(0)
      expect(count("TokensEarned")).toBe(count("BlockCompleted"))
    } finally {
      db.close()
    }
    const checkpoint = await run(
      Effect.flatMap(EventStore, (store) => store.loadSnapshot(LEGACY_CHECKPOINT_STREAM))
    )
    expect(Option.getOrThrow(checkpoint).state).toEqual({ position: generated.head })
  })
})
