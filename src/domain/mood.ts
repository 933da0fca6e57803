import { Result, Schema } from "effect"
import { fromUnknown, Timestamp, utcDay, compiledMake } from "./common.ts"
import type { Decider } from "./Decider.ts"
import { MoodEntryId, UserId } from "./ids.ts"

/**
 * A user's mood log (one aggregate per user) and the insights computed from it. Entries are facts a
 * user reports; nothing else depends on them atomically, so the aggregate only records them and
 * ignores a retried entry id.
 */

export const MoodLevel = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 })).annotate({
  identifier: "MoodLevel"
})
export const MoodNote = Schema.String.check(Schema.isMaxLength(1000)).annotate({ identifier: "MoodNote" })

export const MoodEntry = Schema.Struct({
  id: MoodEntryId,
  user_id: UserId,
  score: MoodLevel,
  energy: MoodLevel,
  stress: MoodLevel,
  note: Schema.NullOr(Schema.String),
  logged_at: Timestamp
}).annotate({ identifier: "MoodEntry" })
export type MoodEntry = typeof MoodEntry.Type

export const LogMood = compiledMake(
  Schema.TaggedStruct("LogMood", {
    entry_id: MoodEntryId,
    user_id: UserId,
    score: MoodLevel,
    energy: MoodLevel,
    stress: MoodLevel,
    note: Schema.optionalKey(MoodNote),
    at: Timestamp
  })
)
export type LogMood = typeof LogMood.Type

export const MoodLogged = compiledMake(
  Schema.TaggedStruct("MoodLogged", {
    entry_id: MoodEntryId,
    user_id: UserId,
    score: MoodLevel,
    energy: MoodLevel,
    stress: MoodLevel,
    note: Schema.NullOr(Schema.String),
    at: Timestamp
  })
)
export type MoodLogged = typeof MoodLogged.Type

export const MoodState = Schema.Struct({ entries: Schema.Array(MoodEntry) }).annotate({
  identifier: "MoodState"
})
export type MoodState = typeof MoodState.Type

/**
 * The ids of an entries array, for the retried-id check: a scan of every entry on each command made a
 * user's 1,000th mood cost 1,000 comparisons. The arrays are never mutated (each state gets a new one), so
 * a set computed for an array stays exact. `evolveMood` hands the set on to the array it makes (the
 * common case: the actor's state moves forward one event at a time); an older array that lost its set
 * rebuilds one if it is ever decided on again.
 */
const entryIds = new WeakMap<ReadonlyArray<MoodEntry>, Set<string>>()

const idsOf = (entries: ReadonlyArray<MoodEntry>): Set<string> => {
  const known = entryIds.get(entries)
  if (known !== undefined) return known
  const ids = new Set(entries.map((e) => e.id))
  entryIds.set(entries, ids)
  return ids
}

export const decideMood = (
  state: MoodState,
  command: LogMood
): Result.Result<ReadonlyArray<MoodLogged>, never> =>
  Result.succeed(
    idsOf(state.entries).has(command.entry_id)
      ? []
      : [
          // The command's fields passed the same schemas when it was made (`LogMood.make`), and a note
          // that fits `MoodNote` is a string: checking them again would only cost.
          {
            _tag: "MoodLogged",
            entry_id: command.entry_id,
            user_id: command.user_id,
            score: command.score,
            energy: command.energy,
            stress: command.stress,
            note: command.note ?? null,
            at: command.at
          }
        ]
  )

export const evolveMood = (state: MoodState, event: MoodLogged): MoodState => {
  const entries = [
    ...state.entries,
    {
      id: event.entry_id,
      user_id: event.user_id,
      score: event.score,
      energy: event.energy,
      stress: event.stress,
      note: event.note,
      logged_at: event.at
    }
  ]
  const ids = entryIds.get(state.entries)
  if (ids !== undefined) {
    entryIds.delete(state.entries)
    ids.add(event.entry_id)
    entryIds.set(entries, ids)
  }
  return { entries }
}

export const MoodDecider: Decider<MoodState, LogMood, MoodLogged, never> = {
  type: "mood",
  initialState: { entries: [] },
  decide: decideMood,
  evolve: evolveMood,
  event: fromUnknown(MoodLogged),
  state: fromUnknown(MoodState)
}

/** History between two instants (inclusive), newest first. */
export const entriesBetween = (
  entries: ReadonlyArray<MoodEntry>,
  from: Date | undefined,
  to: Date | undefined
): ReadonlyArray<MoodEntry> =>
  entries
    .filter(
      (e) =>
        (from === undefined || e.logged_at.getTime() >= from.getTime()) &&
        (to === undefined || e.logged_at.getTime() <= to.getTime())
    )
    .sort((a, b) => b.logged_at.getTime() - a.logged_at.getTime())

// ---------------------------------------------------------------------------------------------
// Insights

export const Trend = Schema.Literals(["improving", "declining", "stable", "insufficient_data"])
export type Trend = typeof Trend.Type
export const Volatility = Schema.Literals(["low", "moderate", "high", "insufficient_data"])
export type Volatility = typeof Volatility.Type

const Averages = Schema.Struct({ score: Schema.Number, energy: Schema.Number, stress: Schema.Number })

export const MoodInsights = Schema.Struct({
  window_days: Schema.Int,
  entries_count: Schema.Int,
  averages: Schema.NullOr(Averages),
  trend: Trend,
  /** Least-squares slope of the score per entry, in chronological order. */
  trend_slope: Schema.NullOr(Schema.Number),
  volatility: Volatility,
  /** Population standard deviation of the score. */
  score_stddev: Schema.NullOr(Schema.Number),
  blocks: Schema.Struct({
    completed_in_window: Schema.Int,
    /** Mean daily score on days with at least one completed block, and on days with none. */
    avg_score_on_focus_days: Schema.NullOr(Schema.Number),
    avg_score_on_other_days: Schema.NullOr(Schema.Number),
    /** Pearson correlation between blocks completed on a day and that day's mean score. */
    correlation: Schema.NullOr(Schema.Number)
  })
}).annotate({ identifier: "MoodInsights" })
export type MoodInsights = typeof MoodInsights.Type

export const INSIGHTS_WINDOW_DAYS = 30
/** Fewer points than this say nothing about a trend or a spread. */
export const MIN_ENTRIES_FOR_TREND = 3
/** A slope of a tenth of a point per entry is a point over ten entries: noticeable, not noise. */
export const TREND_THRESHOLD = 0.1
/** Score standard deviation below 1 point is steady; above 2 points is a swing of a fifth of the scale. */
export const VOLATILITY_LOW = 1
export const VOLATILITY_HIGH = 2

const round2 = (x: number): number => Math.round(x * 100) / 100
const mean = (xs: ReadonlyArray<number>): number => xs.reduce((a, b) => a + b, 0) / xs.length

const slope = (ys: ReadonlyArray<number>): number => {
  const xMean = (ys.length - 1) / 2
  const yMean = mean(ys)
  let num = 0
  let den = 0
  ys.forEach((y, x) => {
    num += (x - xMean) * (y - yMean)
    den += (x - xMean) ** 2
  })
  return den === 0 ? 0 : num / den
}

const stddev = (xs: ReadonlyArray<number>): number => {
  const m = mean(xs)
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)))
}

/** Null when either side is constant: a correlation with a constant is undefined, not zero. */
export const pearson = (xs: ReadonlyArray<number>, ys: ReadonlyArray<number>): number | null => {
  if (xs.length !== ys.length || xs.length < 2) return null
  const mx = mean(xs)
  const my = mean(ys)
  let sxy = 0
  let sxx = 0
  let syy = 0
  xs.forEach((x, i) => {
    const y = ys[i] ?? my
    sxy += (x - mx) * (y - my)
    sxx += (x - mx) ** 2
    syy += (y - my) ** 2
  })
  if (sxx === 0 || syy === 0) return null
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)))
}

/**
 * Insights over the entries and block completions of the last `windowDays` before `now` (completion
 * instants come from the task events). Days are UTC days; the block relation compares only days on
 * which a mood was logged, since a day without an entry says nothing about mood.
 */
export const moodInsights = (
  entries: ReadonlyArray<MoodEntry>,
  blockCompletions: ReadonlyArray<Date>,
  now: Date,
  windowDays: number = INSIGHTS_WINDOW_DAYS
): MoodInsights => {
  const since = now.getTime() - windowDays * 86_400_000
  const inWindow = (t: Date) => t.getTime() > since && t.getTime() <= now.getTime()
  const recent = entries
    .filter((e) => inWindow(e.logged_at))
    .sort((a, b) => a.logged_at.getTime() - b.logged_at.getTime())
  const completions = blockCompletions.filter(inWindow)
  const scores = recent.map((e) => e.score)

  const enough = recent.length >= MIN_ENTRIES_FOR_TREND
  // Rounded so that float noise cannot put a slope and its mirror image on different sides of the threshold.
  const trendSlope = enough ? Math.round(slope(scores) * 1e9) / 1e9 : null
  const trend: Trend =
    trendSlope === null
      ? "insufficient_data"
      : trendSlope > TREND_THRESHOLD
        ? "improving"
        : trendSlope < -TREND_THRESHOLD
          ? "declining"
          : "stable"
  const sd = enough ? stddev(scores) : null
  const volatility: Volatility =
    sd === null
      ? "insufficient_data"
      : sd < VOLATILITY_LOW
        ? "low"
        : sd <= VOLATILITY_HIGH
          ? "moderate"
          : "high"

  const scoresByDay = new Map<string, Array<number>>()
  for (const e of recent) {
    const day = utcDay(e.logged_at)
    scoresByDay.set(day, [...(scoresByDay.get(day) ?? []), e.score])
  }
  const blocksByDay = new Map<string, number>()
  for (const at of completions) blocksByDay.set(utcDay(at), (blocksByDay.get(utcDay(at)) ?? 0) + 1)
  const days = Array.from(scoresByDay.entries()).map(([day, s]) => ({
    score: mean(s),
    blocks: blocksByDay.get(day) ?? 0
  }))
  const focus = days.filter((d) => d.blocks > 0).map((d) => d.score)
  const other = days.filter((d) => d.blocks === 0).map((d) => d.score)
  const correlation =
    days.length >= MIN_ENTRIES_FOR_TREND
      ? pearson(
          days.map((d) => d.blocks),
          days.map((d) => d.score)
        )
      : null

  return {
    window_days: windowDays,
    entries_count: recent.length,
    averages:
      recent.length === 0
        ? null
        : {
            score: round2(mean(scores)),
            energy: round2(mean(recent.map((e) => e.energy))),
            stress: round2(mean(recent.map((e) => e.stress)))
          },
    trend,
    trend_slope: trendSlope === null ? null : round2(trendSlope),
    volatility,
    score_stddev: sd === null ? null : round2(sd),
    blocks: {
      completed_in_window: completions.length,
      avg_score_on_focus_days: focus.length === 0 ? null : round2(mean(focus)),
      avg_score_on_other_days: other.length === 0 ? null : round2(mean(other)),
      correlation: correlation === null ? null : round2(correlation)
    }
  }
}
