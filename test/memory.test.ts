import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { LanguageModelHeuristic } from "../src/layers/ai/LanguageModel.ts"
import { Memory, MemoryLive } from "../src/programs/memory/Memory.ts"
import { infraLayer } from "./support/chainEnv.ts"

const layer = MemoryLive.pipe(Layer.provideMerge(LanguageModelHeuristic), Layer.provideMerge(infraLayer()))

describe("memory", () => {
  it.layer(layer)("tiers and recall", (it) => {
    it.effect("short-term entries expire after 1 h on the TestClock; working entries stay for 24 h", () =>
      Effect.gen(function* () {
        const memory = yield* Memory
        yield* memory.remember("ttl-user", "short_term", {
          kind: "interaction",
          content: "asked for a breakdown"
        })
        yield* memory.remember("ttl-user", "working", { kind: "task", content: "working on the report" })
        yield* TestClock.adjust("59 minutes")
        expect((yield* memory.entries("ttl-user", "short_term")).map((e) => e.content)).toEqual([
          "asked for a breakdown"
        ])
        yield* TestClock.adjust("1 minute")
        expect(yield* memory.entries("ttl-user", "short_term")).toEqual([])
        expect((yield* memory.entries("ttl-user", "working")).map((e) => e.content)).toEqual([
          "working on the report"
        ])
        yield* TestClock.adjust("23 hours")
        expect(yield* memory.entries("ttl-user", "working")).toEqual([])
      })
    )

    it.effect("the expiry sweep drops expired entries and the stats follow", () =>
      Effect.gen(function* () {
        const memory = yield* Memory
        yield* memory.remember("sweep-user", "short_term", { kind: "note", content: "old" })
        yield* TestClock.adjust("30 minutes")
        yield* memory.remember("sweep-user", "short_term", { kind: "note", content: "new" })
        yield* TestClock.adjust("31 minutes")
        expect(yield* memory.expire).toBeGreaterThanOrEqual(1)
        expect((yield* memory.entries("sweep-user", "short_term")).map((e) => e.content)).toEqual(["new"])
      })
    )

    it.effect(
      "semantic recall ranks a user's own records by similarity and never returns another user's",
      () =>
        Effect.gen(function* () {
          const memory = yield* Memory
          yield* memory.persist("alice", {
            kind: "task_insight",
            content: "write the quarterly sales report"
          })
          yield* memory.persist("alice", { kind: "task_insight", content: "go running in the park" })
          yield* memory.persist("bob", {
            kind: "task_insight",
            content: "quarterly sales report for bob's team"
          })
          const alice = yield* memory.recall("alice", "quarterly sales report draft", 5)
          expect(alice[0]?.content).toBe("write the quarterly sales report")
          expect(alice.every((r) => !r.content.includes("bob"))).toBe(true)
          const bob = yield* memory.recall("bob", "quarterly sales report", 5)
          expect(bob.map((r) => r.content)).toEqual(["quarterly sales report for bob's team"])
          expect(yield* memory.recall("carol", "quarterly sales report", 5)).toEqual([])
          const context = yield* memory.userContext("alice")
          expect(context.counts.long_term).toBe(2)
          expect(context.long_term.map((r) => r.content)).not.toContain(
            "quarterly sales report for bob's team"
          )
        })
    )

    it.effect("limits are per user: one user's flood does not evict another's entries", () =>
      Effect.gen(function* () {
        const memory = yield* Memory
        yield* memory.remember("quiet", "short_term", { kind: "note", content: "keep me" })
        for (let i = 0; i < 60; i++)
          yield* memory.remember("loud", "short_term", { kind: "note", content: `n${i}` })
        expect((yield* memory.entries("loud", "short_term")).length).toBe(50)
        expect((yield* memory.entries("quiet", "short_term")).map((e) => e.content)).toEqual(["keep me"])
      })
    )
  })
})
