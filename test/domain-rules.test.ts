import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  BREAK_MINUTES,
  heuristicBlockCount,
  heuristicBreakdown,
  levelFor,
  levelUpBonus,
  nextStreak,
  scheduleOffsets,
  streakBonus,
  legacyTokensForBlock,
  MIN_PAID_ELAPSED_MS,
  payForBlock,
  proofBonus,
  tokensForBlock
} from "../src/domain/rules.ts"
import { utcDay } from "../src/domain/common.ts"
import { nextLevelAt } from "../src/domain/walletViews.ts"

const difficulty = fc.constantFrom("low" as const, "medium" as const, "high" as const)
const factor = { low: 0.8, medium: 1.0, high: 1.3 }

describe("token formula", () => {
  it("pays max(10, floor(minutes × factor)) per difficulty", () => {
    expect(tokensForBlock({ minutes: 25, difficulty: "low" })).toBe(20)
    expect(tokensForBlock({ minutes: 25, difficulty: "medium" })).toBe(25)
    expect(tokensForBlock({ minutes: 25, difficulty: "high" })).toBe(32)
    expect(tokensForBlock({ minutes: 23, difficulty: "high" })).toBe(29)
    expect(tokensForBlock({ minutes: 22, difficulty: "high" })).toBe(28)
    expect(tokensForBlock({ minutes: 5, difficulty: "medium" })).toBe(10)
    expect(tokensForBlock({ minutes: 12, difficulty: "low" })).toBe(10)
    // 70 × 1.3 is exactly 91; the percent arithmetic cannot be off by one.
    expect(tokensForBlock({ minutes: 70, difficulty: "high" })).toBe(91)
  })

  it("the legacy rule (completions recorded before server time decided) scales by the proof score", () => {
    expect(legacyTokensForBlock({ minutes: 25, difficulty: "high", proof_score: 0.5 })).toBe(16)
    expect(legacyTokensForBlock({ minutes: 25, difficulty: "high", proof_score: 1 })).toBe(32)
    expect(legacyTokensForBlock({ minutes: 25, difficulty: "high", proof_score: 0 })).toBe(0)
    expect(legacyTokensForBlock({ minutes: 5, difficulty: "low", proof_score: 0.5 })).toBe(5)
    expect(legacyTokensForBlock({ minutes: 25, difficulty: "high" })).toBe(32)
  })

  it("matches the formula for every input (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 120 }), difficulty, (minutes, d) => {
        const base = Math.max(10, Math.floor(Math.round(minutes * factor[d] * 1e6) / 1e6))
        const tokens = tokensForBlock({ minutes, difficulty: d })
        expect(tokens).toBe(base)
        expect(Number.isInteger(tokens)).toBe(true)
      })
    )
  })

  it("never pays less for more minutes or a harder block (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 119 }), difficulty, (minutes, d) => {
        expect(tokensForBlock({ minutes: minutes + 1, difficulty: d })).toBeGreaterThanOrEqual(
          tokensForBlock({ minutes, difficulty: d })
        )
        expect(tokensForBlock({ minutes, difficulty: "high" })).toBeGreaterThanOrEqual(
          tokensForBlock({ minutes, difficulty: "medium" })
        )
        expect(tokensForBlock({ minutes, difficulty: "medium" })).toBeGreaterThanOrEqual(
          tokensForBlock({ minutes, difficulty: "low" })
        )
      })
    )
  })
})

const MINUTE = 60_000
const minutes = fc.integer({ min: 1, max: 120 })
/** Elapsed time from nothing to twice the longest block, in milliseconds. */
const elapsed = fc.integer({ min: 0, max: 240 * MINUTE })
const score = fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined })

describe("pay for focus actually spent (server time)", () => {
  it("pays full from 80 % of the plan, proportionally before, nothing under a minute", () => {
    // 25-minute medium block: full 25, threshold 20 minutes.
    const pay = (ms: number, proof_score?: number) =>
      payForBlock({
        minutes: 25,
        difficulty: "medium",
        elapsed_ms: ms,
        ...(proof_score === undefined ? {} : { proof_score })
      })
    expect(pay(30)).toMatchObject({ tokens: 0, reason: "too_short", full_tokens: 25, planned_minutes: 25 })
    expect(pay(MINUTE - 1)).toMatchObject({ tokens: 0, reason: "too_short" })
    expect(pay(MINUTE)).toMatchObject({ tokens: 1, reason: "partial", elapsed_minutes: 1 })
    expect(pay(10 * MINUTE)).toMatchObject({ tokens: 12, reason: "partial" })
    expect(pay(20 * MINUTE - 1)).toMatchObject({ tokens: 24, reason: "partial" })
    expect(pay(20 * MINUTE)).toMatchObject({ tokens: 25, reason: "full", elapsed_minutes: 20 })
    expect(pay(3 * 60 * MINUTE)).toMatchObject({ tokens: 25, reason: "full" })
    // A clock step back counts as no time spent, never as negative pay.
    expect(pay(-5 * MINUTE)).toMatchObject({ tokens: 0, reason: "too_short", elapsed_minutes: 0 })
    // The 10-token floor is full pay only: a 5-minute block (full 10) at 2 of its 4 minutes pays 5.
    expect(payForBlock({ minutes: 5, difficulty: "medium", elapsed_ms: 2 * MINUTE })).toMatchObject({
      tokens: 5,
      full_tokens: 10,
      reason: "partial"
    })
    // A convincing proof adds 30 % of the pay for the time, a middling one less, none without a proof.
    expect(pay(20 * MINUTE, 1)).toMatchObject({ tokens: 32, time_tokens: 25, proof_bonus: 7 })
    expect(pay(20 * MINUTE, 0.62)).toMatchObject({ tokens: 29, proof_bonus: 4 })
    expect(pay(20 * MINUTE, 0)).toMatchObject({ tokens: 25, proof_bonus: 0 })
    expect(pay(10 * MINUTE, 1)).toMatchObject({ tokens: 15, time_tokens: 12, proof_bonus: 3 })
    expect(pay(30, 1)).toMatchObject({ tokens: 0, proof_bonus: 0 })
  })

  it("matches the rule exactly for every input (property)", () => {
    fc.assert(
      fc.property(minutes, difficulty, elapsed, score, (m, d, ms, s) => {
        const pay = payForBlock({ minutes: m, difficulty: d, elapsed_ms: ms, proof_score: s })
        const full = tokensForBlock({ minutes: m, difficulty: d })
        const time =
          ms < MIN_PAID_ELAPSED_MS
            ? 0
            : ms >= 0.8 * m * MINUTE
              ? full
              : Math.floor((full * ms) / (0.8 * m * MINUTE))
        expect(pay.time_tokens).toBe(time)
        expect(pay.reason).toBe(ms < MIN_PAID_ELAPSED_MS ? "too_short" : time === full ? "full" : "partial")
        // floor(time × 0.3 × score): the largest integer not above it (tolerating float rounding).
        const exact = s === undefined ? 0 : time * 0.3 * s
        expect(pay.proof_bonus).toBeLessThanOrEqual(exact + 1e-9)
        expect(pay.proof_bonus).toBeGreaterThan(exact - 1 - 1e-9)
        expect(pay.tokens).toBe(pay.time_tokens + pay.proof_bonus)
        expect(pay.full_tokens).toBe(full)
        expect(Number.isInteger(pay.tokens)).toBe(true)
      })
    )
  })

  it("is monotone in elapsed time, with or without a proof (property)", () => {
    fc.assert(
      fc.property(minutes, difficulty, elapsed, elapsed, score, (m, d, a, b, s) => {
        const [shorter, longer] = a <= b ? [a, b] : [b, a]
        const pay = (ms: number) =>
          payForBlock({ minutes: m, difficulty: d, elapsed_ms: ms, proof_score: s }).tokens
        expect(pay(longer)).toBeGreaterThanOrEqual(pay(shorter))
      })
    )
  })

  it("pays nothing under one minute, and never more than full × 1.3 (property)", () => {
    fc.assert(
      fc.property(minutes, difficulty, elapsed, score, (m, d, ms, s) => {
        const pay = payForBlock({ minutes: m, difficulty: d, elapsed_ms: ms, proof_score: s })
        if (ms < MINUTE) expect(pay.tokens).toBe(0)
        expect(pay.tokens).toBeLessThanOrEqual(Math.floor(pay.full_tokens * 1.3))
        expect(pay.time_tokens).toBeLessThanOrEqual(pay.full_tokens)
        if (pay.reason === "partial") expect(pay.time_tokens).toBeLessThan(pay.full_tokens)
      })
    )
  })

  it("a proof never lowers the pay, and a better proof never pays less (property)", () => {
    fc.assert(
      fc.property(
        minutes,
        difficulty,
        elapsed,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (m, d, ms, x, y) => {
          const pay = (proof_score?: number) =>
            payForBlock({
              minutes: m,
              difficulty: d,
              elapsed_ms: ms,
              ...(proof_score === undefined ? {} : { proof_score })
            }).tokens
          const [worse, better] = x <= y ? [x, y] : [y, x]
          expect(pay(worse)).toBeGreaterThanOrEqual(pay())
          expect(pay(better)).toBeGreaterThanOrEqual(pay(worse))
          expect(proofBonus(pay(), better)).toBeGreaterThanOrEqual(0)
        }
      )
    )
  })
})

describe("heuristic breakdown", () => {
  it("cuts 90 minutes into 4 blocks, 25 into 1, 10 into 1, 62 into 2, 63 into 3", () => {
    expect(heuristicBreakdown(90)).toEqual([23, 23, 22, 22])
    expect(heuristicBreakdown(25)).toEqual([25])
    expect(heuristicBreakdown(10)).toEqual([10])
    expect(heuristicBreakdown(62)).toEqual([31, 31])
    expect(heuristicBreakdown(63)).toEqual([21, 21, 21])
  })

  it("has max(1, round(d/25)) blocks summing to d, sizes within one minute (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), (d) => {
        const blocks = heuristicBreakdown(d)
        expect(blocks.length).toBe(Math.max(1, Math.round(d / 25)))
        expect(blocks.length).toBe(heuristicBlockCount(d))
        expect(blocks.reduce((a, b) => a + b, 0)).toBe(d)
        expect(Math.max(...blocks) - Math.min(...blocks)).toBeLessThanOrEqual(1)
        expect(Math.min(...blocks)).toBeGreaterThanOrEqual(1)
        // With round(d/25) blocks, each is within ~[16.7, 50) minutes once d ≥ 13.
        if (d >= 38) {
          expect(Math.min(...blocks)).toBeGreaterThanOrEqual(16)
          expect(Math.max(...blocks)).toBeLessThanOrEqual(38)
        }
      })
    )
  })

  it("separates blocks by 5-minute breaks", () => {
    expect(BREAK_MINUTES).toBe(5)
    expect(scheduleOffsets([23, 23, 22, 22])).toEqual([0, 28, 56, 83])
  })
})

describe("level formula", () => {
  it("is floor((total/50)^0.6) + 1, exact at the boundaries", () => {
    expect(levelFor(0)).toBe(1)
    expect(levelFor(49)).toBe(1)
    expect(levelFor(50)).toBe(2)
    // (1600/50)^0.6 = 32^0.6 = 8 exactly; floating point says 7.999…
    expect(levelFor(1599)).toBe(8)
    expect(levelFor(1600)).toBe(9)
    // Level 5 needs (t/50)^0.6 ≥ 4 ⇔ t ≥ 50·4^(5/3) ≈ 503.97
    expect(levelFor(503)).toBe(4)
    expect(levelFor(504)).toBe(5)
  })

  it("agrees with the float formula away from boundaries and is monotonic (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000 }), (t) => {
        const x = (t / 50) ** 0.6
        if (Math.abs(x - Math.round(x)) > 1e-9) expect(levelFor(t)).toBe(Math.floor(x) + 1)
        expect(levelFor(t + 1)).toBeGreaterThanOrEqual(levelFor(t))
        expect(levelFor(t + 1) - levelFor(t)).toBeLessThanOrEqual(1)
      })
    )
  })

  it("level-up bonus is new_level × 15", () => {
    expect(levelUpBonus(2)).toBe(30)
    expect(levelUpBonus(5)).toBe(75)
  })
})

describe("streak", () => {
  it("bonus is min(streak × 2, 20) from 3 days on", () => {
    expect([1, 2, 3, 4, 9, 10, 11, 30].map(streakBonus)).toEqual([0, 0, 6, 8, 18, 20, 20, 20])
  })

  it("extends on consecutive days, holds on the same day, restarts after a gap, ignores the past", () => {
    expect(nextStreak(null, 0, "2025-01-05")).toBe(1)
    expect(nextStreak("2025-01-05", 4, "2025-01-06")).toBe(5)
    expect(nextStreak("2025-01-05", 4, "2025-01-05")).toBe(4)
    expect(nextStreak("2025-01-05", 4, "2025-01-07")).toBe(1)
    expect(nextStreak("2025-01-05", 4, "2025-01-03")).toBe(4)
    expect(nextStreak("2024-12-31", 2, "2025-01-01")).toBe(3)
  })
})

describe("memoised day and level helpers", () => {
  it("utcDay: the UTC calendar day, whatever day was asked before", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -4_000_000_000_000, max: 8_000_000_000_000 }), { minLength: 1 }),
        (instants) => {
          for (const ms of instants) {
            expect(utcDay(new Date(ms))).toBe(new Date(ms).toISOString().slice(0, 10))
          }
        }
      )
    )
    expect(utcDay(new Date("2024-01-01T23:59:59.999Z"))).toBe("2024-01-01")
    expect(utcDay(new Date("2024-01-02T00:00:00.000Z"))).toBe("2024-01-02")
    expect(utcDay(new Date("1969-12-31T12:00:00.000Z"))).toBe("1969-12-31")
    expect(() => utcDay(new Date(Number.NaN))).toThrow(RangeError)
  })

  it("nextLevelAt: the smallest total whose level is higher, asked once or many times", () => {
    for (const level of [1, 2, 3, 5, 8, 13, 21, 1, 5]) {
      const total = nextLevelAt(level)
      expect(levelFor(total)).toBeGreaterThan(level)
      expect(levelFor(total - 1)).toBeLessThanOrEqual(level)
      expect(nextLevelAt(level)).toBe(total)
    }
  })
})
