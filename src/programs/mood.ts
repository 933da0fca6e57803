import { Context, Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import { DAY_MS } from "../domain/common.ts"
import { MoodEntryId, type UserId } from "../domain/ids.ts"
import { entriesBetween, LogMood, moodInsights } from "../domain/mood.ts"
import { Aggregates, now, storeFailuresAsDefects } from "./aggregates.ts"
import { TaskReadModel } from "./taskReadModel.ts"
import { withSpan } from "../layers/observability/spans.ts"

export interface MoodInput {
  readonly score: number
  readonly energy: number
  readonly stress: number
  readonly note?: string | undefined
}

/** The mood log (one actor per user) and the insights that relate it to completed focus blocks. */
export class MoodLog extends Context.Service<MoodLog>()("MoodLog", {
  make: Effect.gen(function* () {
    const { moods } = yield* Aggregates
    const index = yield* TaskReadModel

    const log = (userId: UserId, input: MoodInput) =>
      Effect.gen(function* () {
        const entry_id = MoodEntryId.make(randomUUID())
        const result = yield* moods.send(
          userId,
          LogMood.make({
            entry_id,
            user_id: userId,
            score: input.score,
            energy: input.energy,
            stress: input.stress,
            ...(input.note === undefined ? {} : { note: input.note }),
            at: yield* now
          })
        )
        // The entry just logged is the last one (a new id is never a retry); the scan is the fallback.
        const entries = result.state.entries
        const last = entries[entries.length - 1]
        const entry = last?.id === entry_id ? last : entries.find((e) => e.id === entry_id)
        if (entry === undefined) return yield* Effect.die(new Error(`mood entry ${entry_id} not recorded`))
        return entry
      }).pipe(storeFailuresAsDefects, withSpan("MoodLog.log"))

    const history = (
      userId: UserId,
      range: { readonly from?: Date | undefined; readonly to?: Date | undefined }
    ) =>
      Effect.map(moods.read(userId), ({ state }) => entriesBetween(state.entries, range.from, range.to)).pipe(
        storeFailuresAsDefects
      )

    const insights = (userId: UserId, windowDays: number) =>
      Effect.gen(function* () {
        const at = yield* now
        const [{ state }, tasks] = yield* Effect.all(
          [moods.read(userId), index.touchedSince(userId, at.getTime() - windowDays * DAY_MS)],
          { concurrency: 2 }
        )
        const completions = tasks.flatMap((t) =>
          t.blocks.flatMap((b) => (b.completed_at === null ? [] : [b.completed_at]))
        )
        return moodInsights(state.entries, completions, at, windowDays)
      }).pipe(storeFailuresAsDefects)

    return { log, history, insights } as const
  })
}) {
  /** Dependencies (Aggregates, TaskReadModel) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}
