import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Ref, Result, Tracer } from "effect"
import { TestClock } from "effect/testing"
import { ActionDecider, CLAIM_LEASE_MS, decideAction } from "../src/domain/planner.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { ActionFailure, makePlanner } from "../src/programs/planner/Planner.ts"

const store = EventStoreSqliteMemory.pipe(Layer.orDie)

describe("planner", () => {
  it.layer(store)("on one store", (it) => {
    it.effect("A→B→C run in dependency order, whatever their priorities", () =>
      Effect.gen(function* () {
        const planner = yield* makePlanner
        const order = yield* Ref.make<ReadonlyArray<string>>([])
        yield* planner.handle("step", (action) =>
          Ref.update(order, (o) => [...o, String((action.payload as { name: string }).name)])
        )
        yield* planner.plan("u-order", [
          { action_id: "order-a", type: "step", priority: "low", payload: { name: "A" } },
          {
            action_id: "order-b",
            type: "step",
            priority: "critical",
            depends_on: ["order-a"],
            payload: { name: "B" }
          },
          {
            action_id: "order-c",
            type: "step",
            priority: "critical",
            depends_on: ["order-b"],
            payload: { name: "C" }
          },
          { action_id: "order-d", type: "step", priority: "high", payload: { name: "D" } }
        ])
        const report = yield* planner.tick("w1", { userId: "u-order" })
        expect(yield* Ref.get(order)).toEqual(["D", "A", "B", "C"])
        expect(report).toMatchObject({ claimed: 4, completed: 4, failed: 0 })
        const states = yield* planner.actions("u-order")
        expect(states.every((a) => a.status === "completed")).toBe(true)
      })
    )

    it.effect("an idle tick exports no span; a tick that runs an action makes one Planner.tick span", () =>
      Effect.gen(function* () {
        const names: Array<string> = []
        const tracer = Tracer.make({
          span: (options) => {
            names.push(options.name)
            return new Tracer.NativeSpan(options)
          }
        })
        const planner = yield* makePlanner
        yield* planner.handle("noop", () => Effect.void)
        yield* planner.tick("idle-worker", { userId: "u-span" }).pipe(Effect.withTracer(tracer))
        expect(names).not.toContain("Planner.tick")
        yield* planner.plan("u-span", [{ type: "noop" }])
        const report = yield* planner
          .tick("busy-worker", { userId: "u-span" })
          .pipe(Effect.withTracer(tracer))
        expect(report.completed).toBe(1)
        expect(names.filter((n) => n === "Planner.tick")).toEqual(["Planner.tick"])
      })
    )

    it.effect("B failing 3 times (with backoff) fails B and cancels C; A stays completed", () =>
      Effect.gen(function* () {
        const planner = yield* makePlanner
        const attemptsOfB = yield* Ref.make(0)
        yield* planner.handle("ok", () => Effect.succeed("done"))
        yield* planner.handle("flaky", () =>
          Ref.update(attemptsOfB, (n) => n + 1).pipe(
            Effect.andThen(Effect.fail(new ActionFailure({ message: "boom" })))
          )
        )
        yield* planner.plan("u-fail", [
          { action_id: "fail-a", type: "ok" },
          { action_id: "fail-b", type: "flaky", depends_on: ["fail-a"] },
          { action_id: "fail-c", type: "ok", depends_on: ["fail-b"] }
        ])
        yield* planner.tick("w1", { userId: "u-fail" })
        expect(yield* Ref.get(attemptsOfB)).toBe(1)
        // The retry waits for its backoff: nothing runs before it.
        yield* TestClock.adjust("29 seconds")
        yield* planner.tick("w1", { userId: "u-fail" })
        expect(yield* Ref.get(attemptsOfB)).toBe(1)
        yield* TestClock.adjust("1 second")
        yield* planner.tick("w1", { userId: "u-fail" })
        expect(yield* Ref.get(attemptsOfB)).toBe(2)
        yield* TestClock.adjust("60 seconds")
        yield* planner.tick("w1", { userId: "u-fail" })
        expect(yield* Ref.get(attemptsOfB)).toBe(3)
        yield* TestClock.adjust("10 minutes")
        yield* planner.tick("w1", { userId: "u-fail" })
        expect(yield* Ref.get(attemptsOfB)).toBe(3)
        const byId = new Map((yield* planner.actions("u-fail")).map((a) => [a.action_id, a]))
        expect(byId.get("fail-a")?.status).toBe("completed")
        expect(byId.get("fail-b")).toMatchObject({ status: "failed", attempts: 3, last_error: "boom" })
        expect(byId.get("fail-c")).toMatchObject({
          status: "cancelled",
          last_error: "dependency fail-b failed"
        })
      })
    )

    it.effect(
      "two workers (separate planners on one store) ticking concurrently run each action exactly once",
      () =>
        Effect.gen(function* () {
          const one = yield* makePlanner
          const two = yield* makePlanner
          const runs = yield* Ref.make<Record<string, number>>({})
          const handler = (action: { readonly action_id: string }) =>
            Effect.yieldNow.pipe(
              Effect.andThen(
                Ref.update(runs, (r) => ({ ...r, [action.action_id]: (r[action.action_id] ?? 0) + 1 }))
              )
            )
          yield* one.handle("job", handler)
          yield* two.handle("job", handler)
          const ids = Array.from({ length: 30 }, (_, i) => `race-${i}`)
          yield* one.plan(
            "u-race",
            ids.map((action_id, i) => ({
              action_id,
              type: "job",
              ...(i > 0 && i % 3 === 0 ? { depends_on: [`race-${i - 1}`] } : {})
            }))
          )
          const [a, b] = yield* Effect.all([one.tick("w1"), two.tick("w2")], { concurrency: 2 })
          const counted = yield* Ref.get(runs)
          expect(Object.keys(counted).sort()).toEqual([...ids].sort())
          expect(Object.values(counted).every((n) => n === 1)).toBe(true)
          expect(a.completed + b.completed).toBe(30)
          expect(a.claimed + b.claimed).toBe(30)
          // The workers did compete: some claims were lost to the other one, and none ran twice.
          expect(a.lost + b.lost).toBeGreaterThan(0)
          const states = yield* two.actions("u-race")
          expect(states.filter((s) => s.status === "completed")).toHaveLength(30)
        })
    )

    it.effect("an action scheduled later waits for its time", () =>
      Effect.gen(function* () {
        const planner = yield* makePlanner
        const ran = yield* Ref.make(0)
        yield* planner.handle("later", () => Ref.update(ran, (n) => n + 1))
        yield* planner.plan("u-later", [{ type: "later", scheduled_at: 60 * 60_000 }])
        yield* planner.tick("w1", { userId: "u-later" })
        expect(yield* Ref.get(ran)).toBe(0)
        yield* TestClock.adjust("1 hour")
        yield* planner.tick("w1", { userId: "u-later" })
        expect(yield* Ref.get(ran)).toBe(1)
      })
    )
  })
})

describe("action decider", () => {
  const planned = ActionDecider.evolve(ActionDecider.initialState, {
    _tag: "ActionPlanned",
    action_id: "a",
    user_id: "u",
    type: "t",
    priority: "high",
    depends_on: [],
    scheduled_at: 0,
    payload: null,
    max_attempts: 3,
    at: 0
  })
  const claim = (state: typeof planned, at: number) => decideAction(state, { _tag: "Claim", worker: "w", at })
  const apply = (state: typeof planned, at: number) =>
    Result.getOrThrow(claim(state, at)).reduce(ActionDecider.evolve, state)

  it("a claimed action cannot be claimed again until its lease expires (a crashed worker)", () => {
    const claimed = apply(planned, 1_000)
    expect(Result.isFailure(claim(claimed, 1_000 + CLAIM_LEASE_MS - 1))).toBe(true)
    const retaken = apply(claimed, 1_000 + CLAIM_LEASE_MS)
    expect(retaken.action).toMatchObject({ status: "in_progress", attempts: 2 })
  })

  it("a stale claim on the last attempt fails the action instead of running it a fourth time", () => {
    let state = planned
    for (let i = 0; i < 3; i++) state = apply(state, i * CLAIM_LEASE_MS)
    expect(state.action?.attempts).toBe(3)
    const after = apply(state, 3 * CLAIM_LEASE_MS)
    expect(after.action).toMatchObject({ status: "failed", attempts: 3 })
  })
})
