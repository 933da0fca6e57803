import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { MoodEntry, MoodInsights, MoodLevel, MoodNote } from "../../domain/mood.ts"
import { Overloaded } from "../errors.ts"
import { Authentication } from "./Security.ts"

export const LogMoodRequest = Schema.Struct({
  score: MoodLevel,
  energy: MoodLevel,
  stress: MoodLevel,
  note: Schema.optionalKey(MoodNote)
}).annotate({ identifier: "LogMoodRequest" })

export const MoodHistory = Schema.Struct({ items: Schema.Array(MoodEntry), total: Schema.Int }).annotate({
  identifier: "MoodHistory"
})

/** Bounds of the insights' `days` window, shared with the OpenAPI document (src/http/openapi.ts). */
export const InsightDaysBounds = { minimum: 1, maximum: 365 } as const

export class MoodApi extends HttpApiGroup.make("mood")
  .add(
    HttpApiEndpoint.post("log", "/api/v1/mood", {
      payload: LogMoodRequest,
      success: MoodEntry.pipe(HttpApiSchema.status(201)),
      error: Overloaded
    }).annotate(OpenApi.Summary, "Log a mood: score, energy and stress on 1-10, optional note")
  )
  .add(
    HttpApiEndpoint.get("history", "/api/v1/mood", {
      query: {
        from: Schema.optional(Schema.DateFromString),
        to: Schema.optional(Schema.DateFromString)
      },
      success: MoodHistory,
      error: Overloaded
    }).annotate(OpenApi.Summary, "Mood entries between `from` and `to` (ISO-8601, inclusive), newest first")
  )
  .add(
    HttpApiEndpoint.get("insights", "/api/v1/mood/insights", {
      query: { days: Schema.optional(Schema.Int.check(Schema.isBetween(InsightDaysBounds))) },
      success: MoodInsights,
      error: Overloaded
    }).annotate(
      OpenApi.Summary,
      "Trend, volatility and relation to completed blocks over the last `days` (default 30)"
    )
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Mood")
  .annotate(OpenApi.Description, "Mood, energy and stress entries and the insights drawn from them.") {}
