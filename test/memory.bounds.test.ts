import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { LanguageModelHeuristic } from "../src/layers/ai/LanguageModel.ts"
import { defaultMemoryLimits, Memory, MemoryLive } from "../src/programs/memory/Memory.ts"
import { infraLayer } from "./support/chainEnv.ts"

/**
 * Issue 16 / DESIGN §8: memory limits are per user and hold whatever one user sends: 50 short-term and
 * 200 working entries (oldest dropped first), 2,000 characters per entry, recall over the newest 500
 * long-term records.
 */
const layer = MemoryLive.pipe(Layer.provideMerge(LanguageModelHeuristic), Layer.provideMerge(infraLayer()))

describe("per-user memory caps", () => {
  it.layer(layer)("with the default limits", (it) => {
    it.effect("working memory keeps the newest 200 entries of a user, short-term the newest 50", () =>
      Effect.gen(function* () {
        const memory = yield* Memory
        for (let i = 0; i < 230; i++) {
          yield* memory.remember("busy", "working", { kind: "note", content: `w${i}` })
        }
        const working = yield* memory.entries("busy", "working")
        expect(defaultMemoryLimits.workingEntries).toBe(200)
        expect(working.map((e) => e.content)).toEqual(Array.from({ length: 200 }, (_, i) => `w${i + 30}`))
        for (let i = 0; i < 70; i++) {
          yield* memory.remember("busy", "short_term", { kind: "note", content: `s${i}` })
        }
        const short = yield* memory.entries("busy", "short_term")
        expect(short.map((e) => e.content)).toEqual(Array.from({ length: 50 }, (_, i) => `s${i + 20}`))
        const context = yield* memory.userContext("busy")
        expect(context.counts).toMatchObject({ short_term: 50, working: 200 })
      })
    )

    it.effect("concurrent writes of one user never push a tier past its cap", () =>
      Effect.gen(function* () {
        const memory = yield* Memory
        yield* Effect.forEach(
          Array.from({ length: 300 }, (_, i) => i),
          (i) => memory.remember("racer", "short_term", { kind: "note", content: `r${i}` }),
          { concurrency: 25, discard: true }
        )
        expect((yield* memory.entries("racer", "short_term")).length).toBeLessThanOrEqual(50)
      })
    )

    it.effect("an entry is cut to 2,000 characters, short-term, working and long-term alike", () =>
      Effect.gen(function* () {
        const memory = yield* Memory
        const huge = "x".repeat(50_000)
        const short = yield* memory.remember("verbose", "short_term", { kind: "note", content: huge })
        const working = yield* memory.remember("verbose", "working", { kind: "note", content: huge })
        expect([short.content.length, working.content.length]).toEqual([2_000, 2_000])
        yield* memory.persist("verbose", { kind: "note", content: huge })
        const [record] = yield* memory.longTerm("verbose", 1)
        expect(record?.content.length).toBe(2_000)
      })
    )

    it.effect("recall and the long-term view reach only the newest 500 records of a user", () =>
      Effect.gen(function* () {
        const memory = yield* Memory
        for (let i = 0; i < 510; i++)
          yield* memory.persist("hoarder", { kind: "note", content: `record ${i}` })
        const all = yield* memory.longTerm("hoarder", 10_000)
        expect(all).toHaveLength(500)
        expect(all.at(-1)?.content).toBe("record 10")
        expect(all[0]?.content).toBe("record 509")
        const found = yield* memory.recall("hoarder", "record 3", 1_000)
        expect(found.length).toBeLessThanOrEqual(500)
        expect(found.some((r) => r.content === "record 3")).toBe(false)
      })
    )
  })
})
