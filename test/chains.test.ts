import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Ref, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import { AiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { ProviderHttpError } from "../src/layers/ai/errors.ts"
import { HeuristicProvider } from "../src/layers/ai/HeuristicProvider.ts"
import { LanguageModelHeuristic, type LanguageModelShape } from "../src/layers/ai/LanguageModel.ts"
import * as Chain from "../src/programs/chains/Chain.ts"
import { ChainExecutor } from "../src/programs/chains/ChainExecutor.ts"
import { ChainsLive, taskAnalysis, taskBreakdown } from "../src/programs/chains/Builtins.ts"
import { heuristicTaskAnalysis } from "../src/programs/chains/builtin/taskAnalysis.ts"
import {
  fakeModelLayer,
  infraLayer,
  pollFiber,
  scriptedModelLayer,
  universalAnswer
} from "./support/chainEnv.ts"
import { startFakeProvider } from "./support/fakeProvider.ts"

const withHeuristic = ChainsLive.pipe(
  Layer.provideMerge(LanguageModelHeuristic),
  Layer.provideMerge(infraLayer())
)

describe("chain executor on the heuristic provider", () => {
  it.layer(withHeuristic)("built-in chains", (it) => {
    it.effect(
      "task_breakdown falls back to max(1, round(d/25)) blocks, marked heuristic, and never cached",
      () =>
        Effect.gen(function* () {
          const executor = yield* ChainExecutor
          const first = yield* executor.run(taskBreakdown, {
            title: "Write report",
            description: "",
            duration_minutes: 90
          })
          expect(first.source).toBe("heuristic")
          expect(first.output.blocks.map((b) => b.duration_minutes)).toEqual([23, 23, 22, 22])
          expect(first.output.total_duration_minutes).toBe(90)
          expect(first.steps).toMatchObject([
            { step: "plan_blocks", source: "heuristic", error: expect.stringContaining("ModelUnavailable") }
          ])
          const second = yield* executor.run(taskBreakdown, {
            title: "Write report",
            description: "",
            duration_minutes: 90
          })
          expect(second.source).toBe("heuristic")
          expect(second.cached).toBe(false)
        })
    )

    it.effect("a run is recorded as events and can be inspected by id", () =>
      Effect.gen(function* () {
        const executor = yield* ChainExecutor
        const result = yield* executor.runByName(
          "task_analysis",
          { title: "Study algebra" },
          { userId: "u1" }
        )
        const run = yield* executor.getRun(result.run_id)
        expect(Option.getOrThrow(run)).toMatchObject({
          run_id: result.run_id,
          chain: "task_analysis",
          user_id: "u1",
          status: "completed",
          source: "heuristic",
          steps: [{ step: "analyse", source: "heuristic" }]
        })
        expect(yield* executor.getRun("no-such-run")).toEqual(Option.none())
        const recent = yield* executor.recentRuns(10)
        expect(recent.some((r) => r.run_id === result.run_id)).toBe(true)
        const stats = yield* executor.stats
        expect(stats.by_chain.task_analysis?.runs).toBeGreaterThanOrEqual(1)
      })
    )

    it.effect("by name: unknown chains and invalid input are typed errors; output is encoded", () =>
      Effect.gen(function* () {
        const executor = yield* ChainExecutor
        const missing = yield* Effect.result(executor.runByName("nope", {}))
        expect(Result.isFailure(missing) && missing.failure._tag).toBe("ChainNotFound")
        const invalid = yield* Effect.result(executor.runByName("task_breakdown", { title: "" }))
        expect(Result.isFailure(invalid) && invalid.failure._tag).toBe("ChainInputInvalid")
        const names = (yield* executor.chains).map((c) => c.name).sort()
        expect(names).toEqual(["motivation", "proof_validation", "task_analysis", "task_breakdown"])
      })
    )
  })
})

describe("chain executor against the loopback fake provider", () => {
  it.live(
    "a second identical run is served from cache; a fallback is not served once the provider is back",
    () =>
      Effect.gen(function* () {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => startFakeProvider({ kind: "answer", content: universalAnswer })),
          (s) => Effect.promise(() => s.close())
        )
        const layer = ChainsLive.pipe(
          Layer.provideMerge(fakeModelLayer(server)),
          Layer.provideMerge(infraLayer())
        )
        const context = yield* Layer.build(layer)
        yield* Effect.gen(function* () {
          const executor = yield* ChainExecutor
          const input = { title: "Write the quarterly report", description: "numbers", duration_minutes: 60 }
          const first = yield* executor.run(taskAnalysis, input)
          expect(first).toMatchObject({ source: "llm", cached: false })
          expect(first.output.difficulty).toBe("medium")
          expect(server.calls()).toBe(1)
          const second = yield* executor.run(taskAnalysis, input)
          expect(second).toMatchObject({ source: "llm", cached: true, output: first.output })
          expect(server.calls()).toBe(1)

          // The provider goes down: the heuristic answers, and its result must not be cached.
          server.setDefault({ kind: "status", status: 500 })
          const other = { title: "Plan the offsite", description: "", duration_minutes: 45 }
          const degraded = yield* executor.run(taskAnalysis, other)
          expect(degraded.source).toBe("heuristic")
          expect(degraded.output).toEqual(heuristicTaskAnalysis({ ...other }))
          const callsWhileDown = server.calls()

          server.setDefault({ kind: "answer", content: universalAnswer })
          const recovered = yield* executor.run(taskAnalysis, other)
          expect(recovered).toMatchObject({ source: "llm", cached: false })
          expect(recovered.output.estimated_time).toBe(70)
          expect(server.calls()).toBe(callsWhileDown + 1)
        }).pipe(Effect.provide(context))
      })
  )
})

const sleepyModel = (ms: number, calls: Ref.Ref<number>): LanguageModelShape => ({
  ...HeuristicProvider,
  provider: "openai",
  generateObject: (request) =>
    Ref.update(calls, (n) => n + 1).pipe(
      Effect.andThen(Effect.sleep(`${ms} millis`)),
      Effect.andThen(Schema.decodeUnknownEffect(request.schema)(universalAnswer).pipe(Effect.orDie))
    )
})

const Text = Schema.Struct({ text: Schema.String })

/** Two 200 ms model steps in parallel, then a 200 ms step on their results. */
const diamond = Chain.make({
  name: "diamond",
  input: Text,
  output: Schema.Struct({ message: Schema.String }),
  cache: Chain.NoCache,
  flow: Chain.andThen(
    Chain.parallel({
      a: Chain.prompt({
        name: "a",
        input: Text,
        output: Schema.Struct({ message: Schema.String }),
        system: "a",
        prompt: (i) => i.text
      }),
      b: Chain.prompt({
        name: "b",
        input: Text,
        output: Schema.Struct({ tone: Schema.String }),
        system: "b",
        prompt: (i) => i.text
      })
    }),
    Chain.prompt({
      name: "c",
      input: Schema.Struct({
        a: Schema.Struct({ message: Schema.String }),
        b: Schema.Struct({ tone: Schema.String })
      }),
      output: Schema.Struct({ message: Schema.String }),
      system: "c",
      prompt: (i) => `${i.a.message} ${i.b.tone}`
    })
  )
})

describe("chain composition on the TestClock", () => {
  it.effect("parallel branches overlap: two 200 ms branches then one 200 ms step take 400 ms, not 600", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const context = yield* Layer.build(
        ChainsLive.pipe(
          Layer.provideMerge(scriptedModelLayer(sleepyModel(200, calls))),
          Layer.provideMerge(infraLayer())
        )
      )
      const executor = yield* Effect.provide(ChainExecutor, context)
      const fiber = yield* Effect.forkChild(executor.run(diamond, { text: "go" }))
      yield* TestClock.adjust("399 millis")
      expect(Option.isNone(yield* pollFiber(fiber))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(fiber)
      expect(result.source).toBe("llm")
      expect(result.duration_ms).toBe(400)
      expect(yield* Ref.get(calls)).toBe(3)
    })
  )

  it.effect(
    "after the breaker opens, a run answers from the heuristic at once: no retry waits, no provider call",
    () =>
      Effect.gen(function* () {
        const calls = yield* Ref.make(0)
        const failing: LanguageModelShape = {
          ...HeuristicProvider,
          provider: "openai",
          generateObject: () =>
            Ref.update(calls, (n) => n + 1).pipe(
              Effect.andThen(Effect.fail(new ProviderHttpError({ status: 500, message: "down" })))
            )
        }
        const context = yield* Layer.build(
          ChainsLive.pipe(Layer.provideMerge(scriptedModelLayer(failing)), Layer.provideMerge(infraLayer()))
        )
        yield* Effect.gen(function* () {
          const executor = yield* ChainExecutor
          const optimizer = yield* AiOptimizer
          // Retries wait on the clock; move it along while the first runs fail.
          for (let i = 0; i < 5; i++) {
            const fiber = yield* Effect.forkChild(
              executor.run(taskAnalysis, { title: `task ${i}`, description: "", duration_minutes: 25 })
            )
            yield* TestClock.adjust("1 second")
            expect((yield* Fiber.join(fiber)).source).toBe("heuristic")
            if ((yield* optimizer.stats).breaker.state === "open") break
          }
          expect((yield* optimizer.stats).breaker.state).toBe("open")
          const before = yield* Ref.get(calls)
          const fiber = yield* Effect.forkChild(
            executor.run(taskAnalysis, { title: "after open", description: "", duration_minutes: 25 })
          )
          // No clock movement: the run must finish without sleeping on a retry. Polling lets the event
          // loop turn (the store commits appends once per turn), but never moves the test clock.
          const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
          const done = yield* pollFiber(fiber).pipe(
            Effect.tap(() => turn),
            Effect.repeat({ until: Option.isSome, times: 1000 })
          )
          expect(Option.isSome(done)).toBe(true)
          const result = yield* Fiber.join(fiber)
          expect(result.source).toBe("heuristic")
          expect(result.steps[0]?.error).toContain("CircuitOpen")
          expect(yield* Ref.get(calls)).toBe(before)
        }).pipe(Effect.provide(context))
      })
  )
})
