import { HttpApiEndpoint, HttpApiGroup, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { MoodEntry, MoodInsights, MoodLevel, MoodNote } from "../../domain/mood.ts"
import { Overloaded } from "../errors.ts"
import { Authentication } from "./Security.ts"

const all = { parseOptions: { errors: "all" } } as const

export const LogMoodRequest = Schema.Struct({
  score: MoodLevel,
  energy: MoodLevel,
  stress: MoodLevel,
  note: Schema.optional(MoodNote)
}).annotations({ identifier: "LogMoodRequest", ...all })

export const MoodHistory = Schema.Struct({ items: Schema.Array(MoodEntry), total: Schema.Int }).annotations({
  identifier: "MoodHistory"
})

export class MoodApi extends HttpApiGroup.make("mood")
  .add(
    HttpApiEndpoint.post("log", "/api/v1/mood")
      .setPayload(LogMoodRequest)
      .addSuccess(MoodEntry, { status: 201 })
      .annotate(OpenApi.Summary, "Log a mood: score, energy and stress on 1-10, optional note")
  )
  .add(
    HttpApiEndpoint.get("history", "/api/v1/mood")
      .setUrlParams(
        Schema.Struct({
          from: Schema.optional(Schema.Date),
          to: Schema.optional(Schema.Date)
        }).annotations(all)
      )
      .addSuccess(MoodHistory)
      .annotate(OpenApi.Summary, "Mood entries between `from` and `to` (ISO-8601, inclusive), newest first")
  )
  .add(
    HttpApiEndpoint.get("insights", "/api/v1/mood/insights")
      .setUrlParams(
        Schema.Struct({
          days: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 365)))
        }).annotations(all)
      )
      .addSuccess(MoodInsights)
      .annotate(
        OpenApi.Summary,
        "Trend, volatility and relation to completed blocks over the last `days` (default 30)"
      )
  )
  .addError(Overloaded)
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Mood") {}
