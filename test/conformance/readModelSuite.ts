import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Option, Result } from "effect"
import { randomUUID } from "node:crypto"
import {
  type ActionRow,
  CheckpointMoved,
  IN_PROGRESS_TOUCH,
  ReadModelStore,
  type RowWrite,
  type TaskRow
} from "../../src/eventsourcing/ReadModelStore.ts"
import { EventStore, EventStoreError } from "../../src/eventsourcing/EventStore.ts"

type Store = Layer.Layer<ReadModelStore | EventStore, unknown>

export interface ReadModelTarget {
  /** A new store of its own, with no read-model rows or checkpoints (each call builds a new one). */
  readonly fresh: () => Store
  /**
   * A durable store that can be opened again: each call of the returned function is a new layer on
   * the same storage. Absent for stores that do not outlive their layer (SQLite `:memory:`).
   */
  readonly reopenable?: () => () => Store
}

const task = (row: Partial<TaskRow> & Pick<TaskRow, "task_id" | "user_id">): TaskRow => ({
  status: "pending",
  created_at: 1_000,
  updated_at: 1_000,
  touched_at: 0,
  state: { title: `task ${row.task_id}` },
  ...row
})

const action = (row: Partial<ActionRow> & Pick<ActionRow, "action_id" | "user_id">): ActionRow => ({
  status: "pending",
  due_at: 5_000,
  created_at: 1_000,
  seq: 0,
  state: { kind: `action ${row.action_id}` },
  ...row
})

const taskWrite = (row: TaskRow): RowWrite => ({ table: "tasks", row })
const actionWrite = (row: ActionRow): RowWrite => ({ table: "actions", row })

const ids = (rows: ReadonlyArray<TaskRow>) => rows.map((r) => r.task_id)
const actionIds = (rows: ReadonlyArray<ActionRow>) => rows.map((r) => r.action_id)
/** For the queries whose order the port leaves open. */
const sortedIds = (rows: ReadonlyArray<TaskRow>) => ids(rows).sort()
const byId = <R extends TaskRow>(rows: ReadonlyArray<R>) =>
  [...rows].sort((a, b) => (a.task_id < b.task_id ? -1 : 1))

const uniqueUser = (label: string) => `user-${label}-${randomUUID().slice(0, 8)}`

/** Commits `writes` as a subscription's first page (from 0 to 1) under a throw-away name. */
const seed = (writes: ReadonlyArray<RowWrite>) =>
  Effect.flatMap(ReadModelStore, (rm) => rm.commit(`seed-${randomUUID()}`, 1, 0, 1, writes))

/**
 * What every ReadModelStore implementation must guarantee, on the same storage as its EventStore.
 * Each test runs on a store of its own: `reset` and the planner's queue span all users.
 */
export const readModelSuite = (name: string, target: ReadModelTarget) =>
  describe(`ReadModelStore conformance: ${name}`, () => {
    const test = (title: string, body: Effect.Effect<void, unknown, ReadModelStore | EventStore>) =>
      it.effect(title, () => body.pipe(Effect.provide(target.fresh())))

    test(
      "a subscription that never committed has no checkpoint",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        expect(yield* rm.checkpoint("never")).toEqual(Option.none())
      })
    )

    test(
      "a commit from 0 creates the checkpoint and writes the rows; the next commit moves on from it",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const user = uniqueUser("first")
        yield* rm.commit("tasks-index", 3, 0, 7, [taskWrite(task({ task_id: "t1", user_id: user }))])
        expect(yield* rm.checkpoint("tasks-index")).toEqual(Option.some({ position: 7, version: 3 }))
        expect(ids(yield* rm.tasks.byIds(["t1"]))).toEqual(["t1"])
        yield* rm.commit("tasks-index", 3, 7, 9, [])
        expect(yield* rm.checkpoint("tasks-index")).toEqual(Option.some({ position: 9, version: 3 }))
        // Another subscription's checkpoint is its own.
        expect(yield* rm.checkpoint("other")).toEqual(Option.none())
      })
    )

    test(
      "a commit from a stale position fails with CheckpointMoved and writes nothing",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const user = uniqueUser("stale")
        yield* rm.commit("s", 1, 0, 10, [taskWrite(task({ task_id: "kept", user_id: user }))])
        for (const from of [0, 5, 11]) {
          const moved = yield* Effect.flip(
            rm.commit("s", 1, from, 20, [
              taskWrite(task({ task_id: `lost-${from}`, user_id: user })),
              taskWrite(task({ task_id: "kept", user_id: user, status: "completed" })),
              actionWrite(action({ action_id: `lost-${from}`, user_id: user }))
            ])
          )
          expect(moved).toBeInstanceOf(CheckpointMoved)
          expect(moved).toMatchObject({ subscription: "s", expected: from })
        }
        expect(yield* rm.checkpoint("s")).toEqual(Option.some({ position: 10, version: 1 }))
        expect(yield* rm.tasks.byIds(["lost-0", "lost-5", "lost-11"])).toEqual([])
        expect((yield* rm.tasks.byIds(["kept"]))[0]?.status).toBe("pending")
        expect(yield* rm.actions.byIds(["lost-0", "lost-5", "lost-11"])).toEqual([])
        // No checkpoint stored counts as position 0: a commit from anywhere else is stale too.
        const fromNowhere = yield* Effect.flip(rm.commit("absent", 1, 4, 8, []))
        expect(fromNowhere).toBeInstanceOf(CheckpointMoved)
        expect(yield* rm.checkpoint("absent")).toEqual(Option.none())
      })
    )

    test(
      "a commit of another version fails, at the stored position or from 0",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const user = uniqueUser("version")
        yield* rm.commit("v", 1, 0, 4, [])
        for (const [version, from] of [
          [2, 4],
          [2, 0],
          [0, 4]
        ] as const) {
          const moved = yield* Effect.flip(
            rm.commit("v", version, from, 6, [
              taskWrite(task({ task_id: `v${version}-${from}`, user_id: user }))
            ])
          )
          expect(moved).toBeInstanceOf(CheckpointMoved)
        }
        expect(yield* rm.checkpoint("v")).toEqual(Option.some({ position: 4, version: 1 }))
        expect((yield* rm.tasks.page(user, { statuses: ["pending"], limit: 10, offset: 0 })).total).toBe(0)
        // A checkpoint at 0 of another version (a reset by an older build) still refuses this one.
        yield* rm.reset("v", 1, [])
        expect(yield* Effect.flip(rm.commit("v", 2, 0, 1, []))).toBeInstanceOf(CheckpointMoved)
        yield* rm.commit("v", 1, 0, 1, [])
        expect(yield* rm.checkpoint("v")).toEqual(Option.some({ position: 1, version: 1 }))
      })
    )

    test(
      "concurrent commits from one position: exactly one wins, and only its rows are written",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const user = uniqueUser("race")
        for (const [label, from] of [
          ["first page", 0],
          ["later page", 3]
        ] as const) {
          const subscription = `race-${from}`
          if (from > 0) yield* rm.commit(subscription, 1, 0, from, [])
          const contenders = Array.from({ length: 10 }, (_, i) => i)
          const results = yield* Effect.forEach(
            contenders,
            (i) =>
              Effect.result(
                rm.commit(subscription, 1, from, from + 10 + i, [
                  taskWrite(task({ task_id: `shared-${from}`, user_id: user, state: { by: i } })),
                  taskWrite(task({ task_id: `own-${from}-${i}`, user_id: user })),
                  actionWrite(action({ action_id: `own-${from}-${i}`, user_id: user }))
                ])
              ),
            { concurrency: "unbounded" }
          )
          const winners = contenders.filter((i) => Result.isSuccess(results[i]!))
          expect(winners, label).toHaveLength(1)
          for (const result of results) {
            if (Result.isFailure(result)) expect(result.failure).toBeInstanceOf(CheckpointMoved)
          }
          const winner = winners[0]!
          expect(yield* rm.checkpoint(subscription)).toEqual(
            Option.some({ position: from + 10 + winner, version: 1 })
          )
          expect((yield* rm.tasks.byIds([`shared-${from}`]))[0]?.state).toEqual({ by: winner })
          const own = contenders.map((i) => `own-${from}-${i}`)
          expect(ids(yield* rm.tasks.byIds(own))).toEqual([`own-${from}-${winner}`])
          expect(actionIds(yield* rm.actions.byIds(own))).toEqual([`own-${from}-${winner}`])
        }
      })
    )

    test(
      "reset empties the named tables only and sets the checkpoint to 0 of the version",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const user = uniqueUser("reset")
        yield* rm.commit("tasks-sub", 1, 0, 5, [
          taskWrite(task({ task_id: "r1", user_id: user })),
          taskWrite(task({ task_id: "r2", user_id: user }))
        ])
        yield* rm.commit("actions-sub", 1, 0, 6, [actionWrite(action({ action_id: "a1", user_id: user }))])
        yield* rm.reset("tasks-sub", 2, ["tasks"])
        expect(yield* rm.checkpoint("tasks-sub")).toEqual(Option.some({ position: 0, version: 2 }))
        expect(yield* rm.tasks.byIds(["r1", "r2"])).toEqual([])
        expect(yield* rm.tasks.counts(user)).toEqual({})
        expect(actionIds(yield* rm.actions.byIds(["a1"]))).toEqual(["a1"])
        expect(yield* rm.checkpoint("actions-sub")).toEqual(Option.some({ position: 6, version: 1 }))
        // The old version is refused from then on; the new one rebuilds from 0.
        expect(yield* Effect.flip(rm.commit("tasks-sub", 1, 5, 7, []))).toBeInstanceOf(CheckpointMoved)
        yield* rm.commit("tasks-sub", 2, 0, 3, [taskWrite(task({ task_id: "r1", user_id: user }))])
        expect(ids(yield* rm.tasks.byIds(["r1", "r2"]))).toEqual(["r1"])
        // A reset of a subscription never committed creates its checkpoint; of no table, touches no row.
        yield* rm.reset("new-sub", 4, [])
        expect(yield* rm.checkpoint("new-sub")).toEqual(Option.some({ position: 0, version: 4 }))
        expect(ids(yield* rm.tasks.byIds(["r1"]))).toEqual(["r1"])
        yield* rm.reset("both", 1, ["tasks", "actions"])
        expect(yield* rm.tasks.byIds(["r1"])).toEqual([])
        expect(yield* rm.actions.byIds(["a1"])).toEqual([])
        expect(yield* rm.actions.counts).toEqual({})
      })
    )

    test(
      "a commit writes its rows in order (the last write of a row wins) and a rewrite replaces every column",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [alice, bob] = [uniqueUser("alice"), uniqueUser("bob")]
        yield* rm.commit("w", 1, 0, 1, [
          taskWrite(task({ task_id: "w1", user_id: alice, state: { n: 1 } })),
          taskWrite(task({ task_id: "w1", user_id: alice, status: "in_progress", state: { n: 2 } })),
          actionWrite(action({ action_id: "wa", user_id: alice, due_at: 10 })),
          actionWrite(action({ action_id: "wa", user_id: alice, due_at: 20 }))
        ])
        expect(yield* rm.tasks.byIds(["w1"])).toEqual([
          task({ task_id: "w1", user_id: alice, status: "in_progress", state: { n: 2 } })
        ])
        expect((yield* rm.actions.byIds(["wa"]))[0]?.due_at).toBe(20)
        const moved = task({
          task_id: "w1",
          user_id: bob,
          status: "completed",
          created_at: 2,
          updated_at: 3,
          touched_at: 4,
          state: { n: 3 }
        })
        const done = action({
          action_id: "wa",
          user_id: bob,
          status: "completed",
          due_at: null,
          created_at: 7
        })
        yield* rm.commit("w", 1, 1, 2, [taskWrite(moved), actionWrite(done)])
        expect(yield* rm.tasks.byIds(["w1"])).toEqual([moved])
        expect(yield* rm.actions.byIds(["wa"])).toEqual([done])
        expect(yield* rm.tasks.counts(alice)).toEqual({})
        expect(yield* rm.tasks.counts(bob)).toEqual({ completed: 1 })
        expect(yield* rm.actions.ofUser(alice, 10)).toEqual([])
      })
    )

    test(
      "rows give back their state JSON unchanged; a state with no JSON text fails the whole commit",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const user = uniqueUser("json")
        let deep: unknown = { leaf: true }
        for (let i = 0; i < 150; i++) deep = { down: deep }
        const states: ReadonlyArray<unknown> = [
          {
            title: "Écrire — 日本語 🎯",
            nested: { list: [1, 2.5, -3, 1e300, 0.1, null, true, false, "", [[]], {}] },
            $dollar: 1,
            "dotted.key": "a.b",
            "": "empty key",
            big: Number.MAX_SAFE_INTEGER,
            nul: "a\u0000b",
            order: { z: 1, a: 2, m: 3 }
          },
          "a bare string",
          42,
          null,
          [],
          deep
        ]
        yield* rm.commit(
          "json",
          1,
          0,
          1,
          states.flatMap((state, i) => [
            taskWrite(task({ task_id: `j${i}`, user_id: user, state })),
            actionWrite(action({ action_id: `j${i}`, user_id: user, state }))
          ])
        )
        const tasks = byId(yield* rm.tasks.byIds(states.map((_, i) => `j${i}`)))
        const actions = yield* rm.actions.byIds(states.map((_, i) => `j${i}`))
        const actionState = new Map(actions.map((a) => [a.action_id, a.state]))
        states.forEach((state, i) => {
          expect(tasks[i]?.state).toEqual(state)
          expect(JSON.stringify(tasks[i]?.state)).toBe(JSON.stringify(state))
          expect(JSON.stringify(actionState.get(`j${i}`))).toBe(JSON.stringify(state))
        })
        const invalid = yield* Effect.flip(
          rm.commit("json", 1, 1, 2, [
            taskWrite(task({ task_id: "fine", user_id: user })),
            taskWrite(task({ task_id: "undefined", user_id: user, state: undefined }))
          ])
        )
        expect(invalid).toBeInstanceOf(EventStoreError)
        expect(yield* rm.tasks.byIds(["fine", "undefined"])).toEqual([])
        expect(yield* rm.checkpoint("json")).toEqual(Option.some({ position: 1, version: 1 }))
      })
    )

    test(
      "byIds answers the stored rows of the ids given, ignoring unknown and repeated ids",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const user = uniqueUser("ids")
        yield* seed([
          taskWrite(task({ task_id: "b1", user_id: user })),
          taskWrite(task({ task_id: "b2", user_id: user, status: "deleted" })),
          actionWrite(action({ action_id: "b1", user_id: user }))
        ])
        expect(sortedIds(yield* rm.tasks.byIds(["b2", "unknown", "b1", "b2"]))).toEqual(["b1", "b2"])
        expect(yield* rm.tasks.byIds([])).toEqual([])
        expect(yield* rm.tasks.byIds(["unknown"])).toEqual([])
        expect(actionIds(yield* rm.actions.byIds(["b1", "b2", "b1"]))).toEqual(["b1"])
        expect(yield* rm.actions.byIds([])).toEqual([])
      })
    )

    test(
      "tasks.page: the user's tasks of the statuses, newest first (ties: id descending), paged, with the total",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [user, other] = [uniqueUser("page"), uniqueUser("page-other")]
        yield* seed([
          taskWrite(task({ task_id: "p-a", user_id: user, created_at: 300 })),
          taskWrite(task({ task_id: "p-b", user_id: user, created_at: 200, status: "in_progress" })),
          taskWrite(task({ task_id: "p-c", user_id: user, created_at: 200 })),
          taskWrite(task({ task_id: "p-d", user_id: user, created_at: 200 })),
          taskWrite(task({ task_id: "p-e", user_id: user, created_at: 100, status: "completed" })),
          taskWrite(task({ task_id: "p-f", user_id: user, created_at: 400, status: "deleted" })),
          taskWrite(task({ task_id: "p-g", user_id: other, created_at: 250 }))
        ])
        const page = (statuses: ReadonlyArray<TaskRow["status"]>, limit: number, offset: number) =>
          rm.tasks
            .page(user, { statuses, limit, offset })
            .pipe(Effect.map((p) => [ids(p.rows), p.total] as const))
        const open = ["pending", "in_progress"] as const
        expect(yield* page(open, 10, 0)).toEqual([["p-a", "p-d", "p-c", "p-b"], 4])
        expect(yield* page(open, 2, 0)).toEqual([["p-a", "p-d"], 4])
        expect(yield* page(open, 2, 2)).toEqual([["p-c", "p-b"], 4])
        expect(yield* page(open, 2, 3)).toEqual([["p-b"], 4])
        expect(yield* page(open, 2, 4)).toEqual([[], 4])
        expect(yield* page(["completed", "deleted"], 10, 0)).toEqual([["p-f", "p-e"], 2])
        expect(yield* page(["pending", "in_progress", "completed", "deleted"], 10, 0)).toEqual([
          ["p-f", "p-a", "p-d", "p-c", "p-b", "p-e"],
          6
        ])
        expect(yield* page([], 10, 0)).toEqual([[], 0])
        // A zero or negative bound reads no rows (never "no limit") and still counts.
        expect(yield* page(open, 0, 0)).toEqual([[], 4])
        expect(yield* page(open, -1, 0)).toEqual([[], 4])
        expect(yield* page(open, 1, -5)).toEqual([["p-a"], 4])
        expect(yield* rm.tasks.page(uniqueUser("nobody"), { statuses: open, limit: 10, offset: 0 })).toEqual({
          rows: [],
          total: 0
        })
        const [first] = (yield* rm.tasks.page(user, { statuses: ["in_progress"], limit: 1, offset: 0 })).rows
        expect(first).toEqual(task({ task_id: "p-b", user_id: user, created_at: 200, status: "in_progress" }))
      })
    )

    test(
      "tasks.recentlyUpdated: the user's tasks of the statuses, latest update first (ties: id descending)",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [user, other] = [uniqueUser("recent"), uniqueUser("recent-other")]
        yield* seed([
          taskWrite(task({ task_id: "u-a", user_id: user, updated_at: 10, status: "completed" })),
          taskWrite(task({ task_id: "u-b", user_id: user, updated_at: 30, status: "completed" })),
          taskWrite(task({ task_id: "u-c", user_id: user, updated_at: 30, status: "completed" })),
          taskWrite(task({ task_id: "u-d", user_id: user, updated_at: 50, status: "pending" })),
          taskWrite(task({ task_id: "u-e", user_id: other, updated_at: 40, status: "completed" }))
        ])
        expect(ids(yield* rm.tasks.recentlyUpdated(user, ["completed"], 10))).toEqual(["u-c", "u-b", "u-a"])
        expect(ids(yield* rm.tasks.recentlyUpdated(user, ["completed"], 2))).toEqual(["u-c", "u-b"])
        expect(ids(yield* rm.tasks.recentlyUpdated(user, ["completed", "pending"], 2))).toEqual([
          "u-d",
          "u-c"
        ])
        expect(yield* rm.tasks.recentlyUpdated(user, [], 10)).toEqual([])
        expect(yield* rm.tasks.recentlyUpdated(user, ["completed"], 0)).toEqual([])
        expect(yield* rm.tasks.recentlyUpdated(user, ["completed"], -1)).toEqual([])
      })
    )

    test(
      "tasks.counts: how many of the user's tasks are in each status, absent statuses left out",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [user, other] = [uniqueUser("counts"), uniqueUser("counts-other")]
        yield* seed([
          taskWrite(task({ task_id: "c-1", user_id: user })),
          taskWrite(task({ task_id: "c-2", user_id: user })),
          taskWrite(task({ task_id: "c-3", user_id: user, status: "completed" })),
          taskWrite(task({ task_id: "c-4", user_id: user, status: "deleted" })),
          taskWrite(task({ task_id: "c-5", user_id: other, status: "in_progress" }))
        ])
        expect(yield* rm.tasks.counts(user)).toEqual({ pending: 2, completed: 1, deleted: 1 })
        expect(yield* rm.tasks.counts(other)).toEqual({ in_progress: 1 })
        expect(yield* rm.tasks.counts(uniqueUser("nobody"))).toEqual({})
      })
    )

    test(
      "tasks.touchedSince: touched at or after the instant, running blocks (IN_PROGRESS_TOUCH) always in",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [user, other] = [uniqueUser("touched"), uniqueUser("touched-other")]
        yield* seed([
          taskWrite(task({ task_id: "x-never", user_id: user, touched_at: 0 })),
          taskWrite(task({ task_id: "x-old", user_id: user, touched_at: 100 })),
          taskWrite(task({ task_id: "x-edge", user_id: user, touched_at: 200 })),
          taskWrite(task({ task_id: "x-new", user_id: user, touched_at: 300, status: "completed" })),
          taskWrite(task({ task_id: "x-running", user_id: user, touched_at: IN_PROGRESS_TOUCH })),
          taskWrite(task({ task_id: "x-theirs", user_id: other, touched_at: IN_PROGRESS_TOUCH }))
        ])
        expect(sortedIds(yield* rm.tasks.touchedSince(user, 200))).toEqual(["x-edge", "x-new", "x-running"])
        expect(sortedIds(yield* rm.tasks.touchedSince(user, 201))).toEqual(["x-new", "x-running"])
        expect(sortedIds(yield* rm.tasks.touchedSince(user, Date.UTC(2100, 0, 1)))).toEqual(["x-running"])
        expect(sortedIds(yield* rm.tasks.touchedSince(user, 0))).toEqual([
          "x-edge",
          "x-never",
          "x-new",
          "x-old",
          "x-running"
        ])
        const [running] = yield* rm.tasks.touchedSince(user, IN_PROGRESS_TOUCH)
        expect(running?.touched_at).toBe(IN_PROGRESS_TOUCH)
      })
    )

    test(
      "tasks.updatedSince: the user's tasks of the statuses updated at or after the instant",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [user, other] = [uniqueUser("updated"), uniqueUser("updated-other")]
        yield* seed([
          taskWrite(task({ task_id: "y-old", user_id: user, updated_at: 100, status: "completed" })),
          taskWrite(task({ task_id: "y-edge", user_id: user, updated_at: 200, status: "completed" })),
          taskWrite(task({ task_id: "y-new", user_id: user, updated_at: 300, status: "completed" })),
          taskWrite(task({ task_id: "y-open", user_id: user, updated_at: 300, status: "pending" })),
          taskWrite(task({ task_id: "y-theirs", user_id: other, updated_at: 300, status: "completed" }))
        ])
        expect(sortedIds(yield* rm.tasks.updatedSince(user, ["completed"], 200))).toEqual(["y-edge", "y-new"])
        expect(sortedIds(yield* rm.tasks.updatedSince(user, ["completed", "pending"], 250))).toEqual([
          "y-new",
          "y-open"
        ])
        expect(yield* rm.tasks.updatedSince(user, [], 0)).toEqual([])
        expect(yield* rm.tasks.updatedSince(user, ["completed"], 301)).toEqual([])
      })
    )

    test(
      "actions.ofUser: the user's actions, newest first (ties: plan order, `seq` ascending), limited",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [user, other] = [uniqueUser("actions"), uniqueUser("actions-other")]
        yield* seed([
          actionWrite(action({ action_id: "o-a", user_id: user, created_at: 100 })),
          actionWrite(
            action({
              action_id: "o-c",
              user_id: user,
              created_at: 200,
              seq: 1,
              status: "completed",
              due_at: null
            })
          ),
          actionWrite(
            action({
              action_id: "o-b",
              user_id: user,
              created_at: 200,
              seq: 2,
              status: "failed",
              due_at: null
            })
          ),
          actionWrite(
            action({ action_id: "o-d", user_id: user, created_at: 300, status: "cancelled", due_at: null })
          ),
          actionWrite(action({ action_id: "o-e", user_id: other, created_at: 250 }))
        ])
        expect(actionIds(yield* rm.actions.ofUser(user, 10))).toEqual(["o-d", "o-c", "o-b", "o-a"])
        expect(actionIds(yield* rm.actions.ofUser(user, 2))).toEqual(["o-d", "o-c"])
        expect(yield* rm.actions.ofUser(user, 0)).toEqual([])
        expect(yield* rm.actions.ofUser(user, -1)).toEqual([])
        expect(yield* rm.actions.ofUser(uniqueUser("nobody"), 10)).toEqual([])
        expect((yield* rm.actions.ofUser(user, 1))[0]).toEqual(
          action({ action_id: "o-d", user_id: user, created_at: 300, status: "cancelled", due_at: null })
        )
      })
    )

    test(
      "actions.open: pending and in-progress actions, soonest due first (ties: id ascending), of one user or all",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const [alice, bob] = [uniqueUser("alice"), uniqueUser("bob")]
        yield* seed([
          actionWrite(action({ action_id: "q-late", user_id: alice, due_at: 900 })),
          actionWrite(action({ action_id: "q-soon-b", user_id: alice, due_at: 100 })),
          actionWrite(action({ action_id: "q-soon-a", user_id: bob, due_at: 100 })),
          actionWrite(action({ action_id: "q-claimed", user_id: alice, due_at: 500, status: "in_progress" })),
          actionWrite(action({ action_id: "q-done", user_id: alice, due_at: null, status: "completed" })),
          actionWrite(action({ action_id: "q-failed", user_id: bob, due_at: null, status: "failed" })),
          actionWrite(action({ action_id: "q-gone", user_id: bob, due_at: 50, status: "cancelled" })),
          actionWrite(action({ action_id: "q-bob", user_id: bob, due_at: 700 })),
          // Not a state the planner writes, but the port allows it: it sorts before any instant.
          actionWrite(action({ action_id: "q-unscheduled", user_id: bob, due_at: null }))
        ])
        expect(actionIds(yield* rm.actions.open({ limit: 10 }))).toEqual([
          "q-unscheduled",
          "q-soon-a",
          "q-soon-b",
          "q-claimed",
          "q-bob",
          "q-late"
        ])
        expect(actionIds(yield* rm.actions.open({ limit: 3 }))).toEqual([
          "q-unscheduled",
          "q-soon-a",
          "q-soon-b"
        ])
        expect(actionIds(yield* rm.actions.open({ userId: alice, limit: 10 }))).toEqual([
          "q-soon-b",
          "q-claimed",
          "q-late"
        ])
        expect(actionIds(yield* rm.actions.open({ userId: undefined, limit: 10 }))).toHaveLength(6)
        expect(actionIds(yield* rm.actions.open({ userId: bob, limit: 2 }))).toEqual([
          "q-unscheduled",
          "q-soon-a"
        ])
        expect(yield* rm.actions.open({ userId: uniqueUser("nobody"), limit: 10 })).toEqual([])
        expect(yield* rm.actions.open({ limit: 0 })).toEqual([])
        expect(yield* rm.actions.open({ limit: -1 })).toEqual([])
        expect(yield* rm.actions.counts).toEqual({
          pending: 5,
          in_progress: 1,
          completed: 1,
          failed: 1,
          cancelled: 1
        })
      })
    )

    test(
      "actions.counts spans every user; an empty store has none",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        expect(yield* rm.actions.counts).toEqual({})
        yield* seed([
          actionWrite(action({ action_id: "k-1", user_id: uniqueUser("k1") })),
          actionWrite(
            action({ action_id: "k-2", user_id: uniqueUser("k2"), status: "completed", due_at: null })
          )
        ])
        expect(yield* rm.actions.counts).toEqual({ pending: 1, completed: 1 })
      })
    )

    test(
      "checkpoints live beside the events: a subscription caught up to the log's head says so",
      Effect.gen(function* () {
        const rm = yield* ReadModelStore
        const events = yield* EventStore
        const metadata = { correlationId: "c", causationId: "c", timestamp: "2025-01-01T00:00:00.000Z" }
        yield* events.append(`counter-${randomUUID()}`, "noStream", [
          { eventId: randomUUID(), type: "Incremented", data: { _tag: "Incremented", by: 1 }, metadata },
          { eventId: randomUUID(), type: "Incremented", data: { _tag: "Incremented", by: 2 }, metadata }
        ])
        const head = yield* events.head
        expect(head).toBeGreaterThanOrEqual(2)
        yield* rm.commit("follower", 1, 0, head, [])
        expect(Option.map(yield* rm.checkpoint("follower"), (c) => c.position)).toEqual(Option.some(head))
      })
    )

    const reopenable = target.reopenable
    if (reopenable !== undefined) {
      it.effect("the checkpoint and the rows survive closing the store and opening it again", () =>
        Effect.gen(function* () {
          const open = reopenable()
          const user = uniqueUser("durable")
          const row = task({
            task_id: "d1",
            user_id: user,
            status: "in_progress",
            touched_at: IN_PROGRESS_TOUCH
          })
          const queued = action({ action_id: "d1", user_id: user, due_at: 42 })
          yield* Effect.flatMap(ReadModelStore, (rm) =>
            rm.commit("durable", 2, 0, 17, [taskWrite(row), actionWrite(queued)])
          ).pipe(Effect.provide(open()))
          yield* Effect.gen(function* () {
            const rm = yield* ReadModelStore
            expect(yield* rm.checkpoint("durable")).toEqual(Option.some({ position: 17, version: 2 }))
            expect(yield* rm.tasks.byIds(["d1"])).toEqual([row])
            expect(yield* rm.actions.open({ userId: user, limit: 10 })).toEqual([queued])
            // And it goes on from there.
            yield* rm.commit("durable", 2, 17, 18, [])
          }).pipe(Effect.provide(open()))
          const third = Effect.flatMap(ReadModelStore, (rm) => rm.checkpoint("durable"))
          expect(yield* third.pipe(Effect.provide(open()))).toEqual(Option.some({ position: 18, version: 2 }))
        })
      )

      it.effect("two stores open on one storage at once: the compare-and-set holds across them", () =>
        Effect.scoped(
          Effect.gen(function* () {
            const open = reopenable()
            const a = Context.get(yield* Layer.build(open()), ReadModelStore)
            const b = Context.get(yield* Layer.build(open()), ReadModelStore)
            const user = uniqueUser("shared")
            yield* a.commit("shared", 1, 0, 5, [taskWrite(task({ task_id: "s-a", user_id: user }))])
            const late = yield* Effect.flip(
              b.commit("shared", 1, 0, 6, [taskWrite(task({ task_id: "s-b", user_id: user }))])
            )
            expect(late).toBeInstanceOf(CheckpointMoved)
            expect(yield* a.tasks.byIds(["s-b"])).toEqual([])
            yield* b.commit("shared", 1, 5, 6, [])
            const [fromA, fromB] = yield* Effect.all(
              [
                Effect.result(
                  a.commit("shared", 1, 6, 7, [taskWrite(task({ task_id: "s-7", user_id: user }))])
                ),
                Effect.result(
                  b.commit("shared", 1, 6, 8, [taskWrite(task({ task_id: "s-8", user_id: user }))])
                )
              ],
              { concurrency: "unbounded" }
            )
            expect([fromA, fromB].filter(Result.isSuccess)).toHaveLength(1)
            const won = Result.isSuccess(fromA!) ? 7 : 8
            expect(yield* b.checkpoint("shared")).toEqual(Option.some({ position: won, version: 1 }))
            expect(ids(yield* a.tasks.byIds(["s-7", "s-8"]))).toEqual([`s-${won}`])
          })
        )
      )
    }
  })
