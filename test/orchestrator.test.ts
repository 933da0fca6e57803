import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, Ref, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import { AiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { HeuristicProvider } from "../src/layers/ai/HeuristicProvider.ts"
import type { LanguageModel, LanguageModelShape } from "../src/layers/ai/LanguageModel.ts"
import { payForBlock, tokensForBlock } from "../src/domain/rules.ts"
import { heuristicProofValidation } from "../src/programs/chains/builtin/proofValidation.ts"
import { ChainExecutor } from "../src/programs/chains/ChainExecutor.ts"
import { ChainsLive } from "../src/programs/chains/Builtins.ts"
import { Memory } from "../src/programs/memory/Memory.ts"
import { Orchestrator, proofBonusScore } from "../src/programs/orchestrator/Orchestrator.ts"
import { TaskPort } from "../src/programs/orchestrator/TaskPort.ts"
import { MemoryChainPlannerLive } from "../src/programs/orchestrator/OrchestratorLayer.ts"
import { makeWorkerStateLayer } from "../src/programs/orchestrator/WorkerState.ts"
import { Planner } from "../src/programs/planner/Planner.ts"
import {
  fakeModelLayer,
  infraLayer,
  pollFiber,
  scriptedModelLayer,
  universalAnswer
} from "./support/chainEnv.ts"
import { startFakeProvider } from "./support/fakeProvider.ts"
import { TaskPortTest } from "./support/taskPort.ts"

const stack = (model: Layer.Layer<LanguageModel | AiOptimizer>) =>
  MemoryChainPlannerLive.pipe(
    Layer.provideMerge(TaskPortTest),
    Layer.provideMerge(ChainsLive),
    Layer.provideMerge(makeWorkerStateLayer("embedded")),
    Layer.provideMerge(model),
    Layer.provideMerge(infraLayer())
  )

/** Every model call (text or embedding) takes 200 ms of the TestClock. */
const sleepyModel = (calls: Ref.Ref<number>): LanguageModelShape => ({
  provider: "openai",
  generateObject: (request) =>
    Ref.update(calls, (n) => n + 1).pipe(
      Effect.andThen(Effect.sleep("200 millis")),
      Effect.andThen(Schema.decodeUnknownEffect(request.schema)(universalAnswer).pipe(Effect.orDie))
    ),
  embed: (texts) =>
    Ref.update(calls, (n) => n + 1).pipe(
      Effect.andThen(Effect.sleep("200 millis")),
      Effect.andThen(HeuristicProvider.embed(texts))
    )
})

describe("orchestrator workflows", () => {
  it.effect(
    "create-enhanced takes its longest dependent path (600 ms), not the sum of its model calls (800 ms)",
    () =>
      Effect.gen(function* () {
        const calls = yield* Ref.make(0)
        const context = yield* Layer.build(stack(scriptedModelLayer(sleepyModel(calls))))
        yield* Effect.gen(function* () {
          const memory = yield* Memory
          const orchestrator = yield* Orchestrator
          // A past task so that recall has something to embed the query against.
          const seeded = yield* Effect.forkChild(
            memory.persist("timing", { kind: "task", content: "write the annual report" })
          )
          yield* TestClock.adjust("200 millis")
          yield* Fiber.join(seeded)
          yield* Ref.set(calls, 0)

          // Dependent path: {analysis ∥ recall embedding ∥ context} 200 → breakdown 200 → insight embedding 200.
          const fiber = yield* Effect.forkChild(
            orchestrator.createEnhanced("timing", {
              title: "Write the quarterly report",
              description: "sales numbers",
              duration_minutes: 60
            })
          )
          yield* TestClock.adjust("599 millis")
          expect(Option.isNone(yield* pollFiber(fiber))).toBe(true)
          yield* TestClock.adjust("1 millis")
          const result = yield* Fiber.join(fiber)
          // Four 200 ms calls were made (sum 800 ms), yet it finished at 600 ms < 1.5 × 600 ms.
          expect(yield* Ref.get(calls)).toBe(4)
          expect(result.source).toBe("llm")
          expect(result.similar_tasks[0]?.content).toBe("write the annual report")
          expect(result.breakdown.blocks).toHaveLength(2)
          expect(result.task.blocks.map((b) => b.title)).toEqual(["Outline", "Draft"])
          expect(result.follow_up_actions.map((a) => a.type)).toEqual(["send_motivation", "review_progress"])
        }).pipe(Effect.provide(context))
      })
  )

  it.layer(stack(scriptedModelLayer(HeuristicProvider)))("on the heuristic provider", (it) => {
    it.effect(
      "complete-enhanced pays by server time since the start, a valid proof adds a bonus, pays once",
      () =>
        Effect.gen(function* () {
          const orchestrator = yield* Orchestrator
          const memory = yield* Memory
          const tasks = yield* TaskPort
          const created = yield* orchestrator.createEnhanced("pay", {
            title: "Refactor the billing module",
            description: "",
            duration_minutes: 50,
            difficulty: "high"
          })
          expect(created.source).toBe("heuristic")
          expect(created.task.blocks).toHaveLength(2)
          const block = created.task.blocks[0]!
          yield* tasks.startBlock("pay", created.task.id, block.id)
          // The whole planned block passes on the server's clock.
          yield* TestClock.adjust(`${block.duration_minutes} minutes`)
          const proof_text =
            "I refactored the billing module: split the invoice service, added tests, and removed dead code paths."
          const done = yield* orchestrator.completeEnhanced("pay", {
            task_id: created.task.id,
            block_id: block.id,
            proof_text
          })
          const verdict = heuristicProofValidation({
            task: `${created.task.title} — ${block.title}`,
            criteria: [],
            proof_text
          })
          expect(done.proof).toEqual(verdict)
          expect(verdict.is_valid).toBe(true)
          expect(done.proof_score).toBe(proofBonusScore(verdict))
          const full = tokensForBlock({ minutes: block.duration_minutes, difficulty: "high" })
          const bonus = Math.floor((full * 30 * verdict.confidence) / 100)
          expect(bonus).toBeGreaterThan(0)
          expect(done.tokens_earned).toBe(full + bonus)
          expect(done.pay).toEqual({
            full_tokens: full,
            elapsed_minutes: block.duration_minutes,
            planned_minutes: block.duration_minutes,
            reason: "full",
            time_tokens: full,
            proof_bonus: bonus
          })
          expect(done.source).toBe("heuristic")
          const again = yield* Effect.result(
            orchestrator.completeEnhanced("pay", { task_id: created.task.id, block_id: block.id, proof_text })
          )
          expect(Result.isFailure(again) && again.failure._tag).toBe("InvalidTransition")
          const shortTerm = yield* memory.entries("pay", "short_term")
          expect(shortTerm.filter((e) => e.content.startsWith("Completed"))).toHaveLength(1)
        })
    )

    it.effect(
      "complete-enhanced on a block never started is BlockNotStarted and runs or writes nothing",
      () =>
        Effect.gen(function* () {
          const orchestrator = yield* Orchestrator
          const memory = yield* Memory
          const tasks = yield* TaskPort
          const executor = yield* ChainExecutor
          const created = yield* orchestrator.createEnhanced("lazy", {
            title: "Write the changelog",
            description: "",
            duration_minutes: 25,
            difficulty: "medium"
          })
          const block = created.task.blocks[0]!
          const runsBefore = (yield* executor.stats).runs
          const refused = yield* Effect.result(
            orchestrator.completeEnhanced("lazy", {
              task_id: created.task.id,
              block_id: block.id,
              proof_text: "I wrote the whole changelog for the release, every entry."
            })
          )
          expect(Result.isFailure(refused) && refused.failure).toMatchObject({
            _tag: "BlockNotStarted",
            details: { task_id: created.task.id, block_id: block.id }
          })
          // The block was not started behind the user's back, and no chain ran for the refused request.
          expect((yield* tasks.get("lazy", created.task.id)).blocks[0]?.status).toBe("pending")
          expect((yield* executor.stats).runs).toBe(runsBefore)
          const shortTerm = yield* memory.entries("lazy", "short_term")
          expect(shortTerm.filter((e) => e.content.startsWith("Completed"))).toHaveLength(0)
        })
    )

    it.effect("complete-enhanced right after the start pays 0 (too short); at half the plan, partial", () =>
      Effect.gen(function* () {
        const orchestrator = yield* Orchestrator
        const tasks = yield* TaskPort
        const created = yield* orchestrator.createEnhanced("quick", {
          title: "Plan the sprint",
          description: "",
          duration_minutes: 50,
          difficulty: "medium"
        })
        const [first, second] = created.task.blocks
        yield* tasks.startBlock("quick", created.task.id, first!.id)
        yield* TestClock.adjust("30 seconds")
        const proof_text =
          "I planned the sprint: estimated every story, ordered the backlog, shared the plan."
        const quick = yield* orchestrator.completeEnhanced("quick", {
          task_id: created.task.id,
          block_id: first!.id,
          proof_text
        })
        // Even a convincing proof adds nothing to nothing.
        expect(quick.tokens_earned).toBe(0)
        expect(quick.pay).toMatchObject({
          reason: "too_short",
          time_tokens: 0,
          proof_bonus: 0,
          elapsed_minutes: 0.5
        })

        yield* tasks.startBlock("quick", created.task.id, second!.id)
        const half = second!.duration_minutes * 30_000
        yield* TestClock.adjust(`${half} millis`)
        const partial = yield* orchestrator.completeEnhanced("quick", {
          task_id: created.task.id,
          block_id: second!.id
        })
        const expected = payForBlock({
          minutes: second!.duration_minutes,
          difficulty: "medium",
          elapsed_ms: half
        })
        expect(partial.pay).toMatchObject({ reason: "partial", proof_bonus: 0 })
        expect(partial.tokens_earned).toBe(expected.tokens)
        expect(partial.tokens_earned).toBeGreaterThan(0)
        expect(partial.tokens_earned).toBeLessThan(expected.full_tokens)
      })
    )

    it.effect("a rejected or blank proof pays exactly what no proof pays: a proof never lowers the pay", () =>
      Effect.gen(function* () {
        const orchestrator = yield* Orchestrator
        const tasks = yield* TaskPort
        const created = yield* orchestrator.createEnhanced("proofs", {
          title: "Review the pull requests",
          description: "",
          duration_minutes: 75,
          difficulty: "low"
        })
        const paid: Array<number> = []
        for (const [i, proof_text] of ["", "x", undefined].entries()) {
          const block = created.task.blocks[i]!
          yield* tasks.startBlock("proofs", created.task.id, block.id)
          yield* TestClock.adjust(`${block.duration_minutes} minutes`)
          const done = yield* orchestrator.completeEnhanced("proofs", {
            task_id: created.task.id,
            block_id: block.id,
            ...(proof_text === undefined ? {} : { proof_text })
          })
          expect(done.pay).toMatchObject({ reason: "full", proof_bonus: 0 })
          paid.push(done.tokens_earned - done.pay.full_tokens)
          if (proof_text === "x") expect(done.proof?.is_valid).toBe(false)
        }
        expect(paid).toEqual([0, 0, 0])
      })
    )

    it.effect("follow-up actions planned by the workflows run on the planner tick once due", () =>
      Effect.gen(function* () {
        const orchestrator = yield* Orchestrator
        const planner = yield* Planner
        const created = yield* orchestrator.createEnhanced("follow", {
          title: "Study",
          description: "",
          duration_minutes: 25
        })
        yield* planner.tick("w", { userId: "follow" })
        expect((yield* planner.actions("follow")).every((a) => a.status === "pending")).toBe(true)
        yield* TestClock.adjust("30 minutes")
        const report = yield* planner.tick("w", { userId: "follow" })
        expect(report.completed).toBe(2)
        const actions = yield* planner.actions("follow")
        expect(actions.find((a) => a.type === "review_progress")?.result).toEqual({
          done: 0,
          total: created.task.blocks.length
        })
      })
    )

    it.effect("daily optimization and focus session answer from the heuristic path", () =>
      Effect.gen(function* () {
        const orchestrator = yield* Orchestrator
        const daily = yield* orchestrator.dailyOptimization("daily", {
          mood: { score: 3, energy: 2, stress: 8 }
        })
        expect(daily.source).toBe("heuristic")
        expect(daily.motivation.tone).toBe("calming")
        expect(daily.planned.map((a) => a.type)).toEqual(["daily_review"])
        const focus = yield* orchestrator.focusSession("daily", { duration_minutes: 50 })
        expect(focus.source).toBe("heuristic")
        expect(focus.check_in).toMatchObject({ type: "focus_check_in", status: "pending" })
        const status = yield* orchestrator.status
        expect(status.chains.map((c) => c.name)).toContain("task_breakdown")
        expect(status.planner.actions).toBeGreaterThan(0)
      })
    )
  })

  it.live(
    "provider down (500s): every workflow answers heuristic, the breaker opens, and then nothing waits on retries",
    () =>
      Effect.gen(function* () {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => startFakeProvider({ kind: "status", status: 500 })),
          (s) => Effect.promise(() => s.close())
        )
        const context = yield* Layer.build(stack(fakeModelLayer(server)))
        yield* Effect.gen(function* () {
          const orchestrator = yield* Orchestrator
          const optimizer = yield* AiOptimizer
          const created = yield* orchestrator.createEnhanced("down", {
            title: "Write docs",
            description: "",
            duration_minutes: 50
          })
          expect(created.source).toBe("heuristic")
          expect((yield* optimizer.stats).breaker.state).toBe("open")
          const before = yield* optimizer.stats
          const callsBefore = server.calls()
          const block = created.task.blocks[0]!
          yield* (yield* TaskPort).startBlock("down", created.task.id, block.id)
          const completed = yield* orchestrator.completeEnhanced("down", {
            task_id: created.task.id,
            block_id: block.id,
            proof_text: "wrote the installation and configuration sections of the docs"
          })
          const daily = yield* orchestrator.dailyOptimization("down", {})
          const focus = yield* orchestrator.focusSession("down", {
            task_id: created.task.id,
            duration_minutes: 25
          })
          const again = yield* orchestrator.createEnhanced("down", {
            title: "Write more docs",
            description: "",
            duration_minutes: 25
          })
          expect([completed.source, daily.source, focus.source, again.source]).toEqual([
            "heuristic",
            "heuristic",
            "heuristic",
            "heuristic"
          ])
          const after = yield* optimizer.stats
          // Once open, calls are rejected up front: no attempt (first or retry) reached the provider.
          expect(server.calls()).toBe(callsBefore)
          expect(after.attempts).toBe(before.attempts)
          expect(after.rejections.circuit_open).toBeGreaterThan(before.rejections.circuit_open)
        }).pipe(Effect.provide(context))
      })
  )
})
