import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { MoodEntryId, UserId } from "../src/domain/ids.ts"
import {
  entriesBetween,
  LogMood,
  MoodDecider,
  type MoodEntry,
  moodInsights,
  pearson
} from "../src/domain/mood.ts"
import { day, decideOk, runCommands } from "./domain/support.ts"

const user = UserId.make("u")
const entry = (i: number, score: number, at: Date, energy = 5, stress = 5): MoodEntry => ({
  id: MoodEntryId.make(`m${i}`),
  user_id: user,
  score,
  energy,
  stress,
  note: null,
  logged_at: at
})
const now = day(20)

describe("mood log", () => {
  it("records entries and ignores a retried entry id", () => {
    const log = (id: string, score: number) =>
      LogMood.make({
        entry_id: MoodEntryId.make(id),
        user_id: user,
        score,
        energy: 6,
        stress: 3,
        note: "ok",
        at: day(1)
      })
    const { state, events } = runCommands(MoodDecider, [log("a", 7), log("a", 7), log("b", 4)])
    expect(events).toHaveLength(2)
    expect(state.entries.map((e) => e.score)).toEqual([7, 4])
    expect(decideOk(MoodDecider, state, log("c", 5)).state.entries[2]?.note).toBe("ok")
  })

  it("a retried id is found in exactly the state decided on, old or new, from events or a snapshot", () => {
    const log = (id: string) =>
      LogMood.make({
        entry_id: MoodEntryId.make(id),
        user_id: user,
        score: 5,
        energy: 5,
        stress: 5,
        at: day(1)
      })
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 30 }), (ids) => {
        // Every intermediate state is kept, and each is decided on again after later states were made.
        const states = [MoodDecider.initialState]
        for (const id of ids) {
          const current = states[states.length - 1]!
          const decision = decideOk(MoodDecider, current, log(`m${id}`))
          states.push(decision.state)
        }
        for (const state of [...states].reverse()) {
          const copy = { entries: [...state.entries] } // as a snapshot decodes: a new array
          for (let id = 0; id <= 6; id++) {
            const present = state.entries.some((e) => e.id === `m${id}`)
            expect(decideOk(MoodDecider, state, log(`m${id}`)).events.length).toBe(present ? 0 : 1)
            expect(decideOk(MoodDecider, copy, log(`m${id}`)).events.length).toBe(present ? 0 : 1)
          }
        }
      })
    )
  })

  it("history filters by date range, newest first", () => {
    const entries = [entry(1, 5, day(1)), entry(2, 6, day(2)), entry(3, 7, day(3))]
    expect(entriesBetween(entries, day(2), undefined).map((e) => e.id)).toEqual(["m3", "m2"])
    expect(entriesBetween(entries, undefined, day(1, 23)).map((e) => e.id)).toEqual(["m1"])
  })
})

describe("mood insights", () => {
  it("sees an improving trend, a declining one, and a flat one", () => {
    const rising = [3, 4, 5, 6, 7].map((s, i) => entry(i, s, day(10 + i)))
    expect(moodInsights(rising, [], now)).toMatchObject({ trend: "improving", trend_slope: 1 })
    const falling = [8, 7, 6, 4, 3].map((s, i) => entry(i, s, day(10 + i)))
    expect(moodInsights(falling, [], now).trend).toBe("declining")
    const flat = [6, 6, 6, 6].map((s, i) => entry(i, s, day(10 + i)))
    expect(moodInsights(flat, [], now)).toMatchObject({ trend: "stable", volatility: "low", score_stddev: 0 })
  })

  it("needs three entries for a trend, and ignores entries outside the window", () => {
    const few = [entry(1, 2, day(18)), entry(2, 9, day(19))]
    expect(moodInsights(few, [], now)).toMatchObject({
      trend: "insufficient_data",
      volatility: "insufficient_data"
    })
    const old = [entry(1, 1, day(-30)), entry(2, 1, day(-29)), entry(3, 1, day(-28))]
    expect(moodInsights(old, [], now)).toMatchObject({ entries_count: 0, averages: null })
  })

  it("rates volatility from the score's spread", () => {
    const swings = [1, 10, 1, 10, 1, 10].map((s, i) => entry(i, s, day(10 + i)))
    expect(moodInsights(swings, [], now)).toMatchObject({ volatility: "high", score_stddev: 4.5 })
  })

  it("relates mood to completed blocks by day", () => {
    // Days with more focus blocks have better moods.
    const entries = [entry(1, 4, day(10)), entry(2, 6, day(11)), entry(3, 8, day(12)), entry(4, 5, day(13))]
    const completions = [day(11, 9), day(12, 9), day(12, 10), day(12, 11), day(13, 9), day(-15)]
    const insights = moodInsights(entries, completions, now)
    expect(insights.blocks.completed_in_window).toBe(5)
    expect(insights.blocks.avg_score_on_focus_days).toBeCloseTo((6 + 8 + 5) / 3, 2)
    expect(insights.blocks.avg_score_on_other_days).toBe(4)
    expect(insights.blocks.correlation).toBeGreaterThan(0.5)
  })

  it("always yields bounded, well-formed numbers (property)", () => {
    const entriesArb = fc.array(
      fc.record({
        score: fc.integer({ min: 1, max: 10 }),
        energy: fc.integer({ min: 1, max: 10 }),
        stress: fc.integer({ min: 1, max: 10 }),
        hours: fc.integer({ min: 0, max: 60 * 24 })
      }),
      { maxLength: 80 }
    )
    const completionsArb = fc.array(fc.integer({ min: 0, max: 60 * 24 }), { maxLength: 80 })
    fc.assert(
      fc.property(entriesArb, completionsArb, (raw, hours) => {
        const base = now.getTime() - 50 * 86_400_000
        const entries = raw.map((r, i) =>
          entry(i, r.score, new Date(base + r.hours * 3_600_000), r.energy, r.stress)
        )
        const insights = moodInsights(
          entries,
          hours.map((h) => new Date(base + h * 3_600_000)),
          now
        )
        if (insights.averages) {
          for (const v of Object.values(insights.averages)) {
            expect(v).toBeGreaterThanOrEqual(1)
            expect(v).toBeLessThanOrEqual(10)
          }
        } else expect(insights.entries_count).toBe(0)
        if (insights.score_stddev !== null) expect(insights.score_stddev).toBeLessThanOrEqual(4.5)
        const r = insights.blocks.correlation
        if (r !== null) expect(Math.abs(r)).toBeLessThanOrEqual(1)
        expect(insights.trend === "insufficient_data").toBe(insights.entries_count < 3)
      })
    )
  })

  it("reversing the order of the scores negates the trend (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 3, maxLength: 40 }), (scores) => {
        const at = (i: number) => new Date(now.getTime() - (scores.length - i) * 3_600_000)
        const forward = moodInsights(
          scores.map((s, i) => entry(i, s, at(i))),
          [],
          now
        )
        const backward = moodInsights(
          scores.map((s, i) => entry(i, s, at(scores.length - 1 - i))),
          [],
          now
        )
        expect(backward.trend_slope).toBeCloseTo(-(forward.trend_slope ?? 0), 1)
        const flip = { improving: "declining", declining: "improving", stable: "stable" } as const
        if (forward.trend !== "insufficient_data") expect(backward.trend).toBe(flip[forward.trend])
        expect(backward.score_stddev).toBe(forward.score_stddev)
      })
    )
  })

  it("pearson is symmetric, 1 for a line, null for a constant", () => {
    expect(pearson([1, 2, 3], [2, 4, 6])).toBe(1)
    expect(pearson([1, 2, 3], [6, 4, 2])).toBe(-1)
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNull()
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 1, max: 10 })), { minLength: 2 }),
        (pairs) => {
          const xs = pairs.map(([x]) => x)
          const ys = pairs.map(([, y]) => y)
          expect(pearson(xs, ys)).toEqual(pearson(ys, xs))
        }
      )
    )
  })
})
