import { Schema } from "effect"

/**
 * A user's memory, pure parts. Short-term (1 h) and working (24 h) entries live in the cache;
 * long-term records are events on the user's own stream `memory-<user_id>`, so recall can only ever
 * see that user's records.
 */

export const MemoryTier = Schema.Literals(["short_term", "working", "long_term"])
export type MemoryTier = typeof MemoryTier.Type

export const MemoryKind = Schema.Literals([
  "user_context",
  "task_insight",
  "pattern",
  "note",
  "task",
  "interaction"
])
export type MemoryKind = typeof MemoryKind.Type

export const MemoryEntry = Schema.Struct({
  id: Schema.String,
  kind: MemoryKind,
  content: Schema.String,
  data: Schema.optionalKey(Schema.Unknown),
  at: Schema.String,
  /** Epoch millis after which the entry is gone (cache tiers only). */
  expires_at: Schema.optionalKey(Schema.Number)
}).annotate({ identifier: "MemoryEntry" })
export type MemoryEntry = typeof MemoryEntry.Type

/** A long-term record as stored: with its embedding and which embedder produced it. */
export const MemoryRecorded = Schema.TaggedStruct("MemoryRecorded", {
  id: Schema.String,
  user_id: Schema.String,
  kind: MemoryKind,
  content: Schema.String,
  data: Schema.optionalKey(Schema.Unknown),
  at: Schema.String,
  /** `provider:<name>` or `local`: vectors of different embedders are never compared. */
  embedder: Schema.String,
  embedding: Schema.Array(Schema.Number)
})
export type MemoryRecorded = typeof MemoryRecorded.Type

export const memoryStream = (userId: string) => `memory-${userId}`

export const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  if (a.length !== b.length || a.length === 0) return 0
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0
    const y = b[i] ?? 0
    dot += x * y
    na += x * x
    nb += y * y
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

export interface Scored<A> {
  readonly item: A
  readonly score: number
}

/** The `k` best-scoring items, best first; items scoring ≤ `minScore` are left out. */
export const topK = <A>(
  items: ReadonlyArray<A>,
  scoreOf: (item: A) => number,
  k: number,
  minScore = 0
): ReadonlyArray<Scored<A>> =>
  items
    .map((item) => ({ item, score: scoreOf(item) }))
    .filter((s) => s.score > minScore)
    .sort((a, b) => b.score - a.score)
    .slice(0, k)

/** Keeps the newest `limit` entries that have not expired at `now`. */
export const liveEntries = (
  entries: ReadonlyArray<MemoryEntry>,
  now: number,
  limit: number
): ReadonlyArray<MemoryEntry> =>
  entries.filter((e) => e.expires_at === undefined || e.expires_at > now).slice(-limit)
