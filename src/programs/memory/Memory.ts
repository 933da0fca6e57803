import { Clock, Context, Duration, Effect, Layer, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import {
  cosine,
  liveEntries,
  type MemoryEntry,
  MemoryEntry as MemoryEntrySchema,
  type MemoryKind,
  MemoryRecorded,
  memoryStream,
  topK
} from "../../domain/memory.ts"
import { Cache } from "../../layers/cache/Cache.ts"
import { localEmbedding } from "../../layers/ai/HeuristicProvider.ts"
import { EventStore } from "../../eventsourcing/EventStore.ts"
import { LanguageModel } from "../../layers/ai/LanguageModel.ts"
import { withSpan } from "../../layers/observability/spans.ts"

export interface MemoryLimits {
  readonly shortTermTtl: Duration.Input
  readonly workingTtl: Duration.Input
  /** Entries kept per user and tier; the oldest go first. */
  readonly shortTermEntries: number
  readonly workingEntries: number
  /** Newest long-term records per user that recall searches. */
  readonly longTermRecall: number
  readonly maxContentChars: number
}

export const defaultMemoryLimits: MemoryLimits = {
  shortTermTtl: Duration.hours(1),
  workingTtl: Duration.hours(24),
  shortTermEntries: 50,
  workingEntries: 200,
  longTermRecall: 500,
  maxContentChars: 2_000
}

export type CacheTier = "short_term" | "working"

export interface Note {
  readonly kind: MemoryKind
  readonly content: string
  readonly data?: unknown
}

export interface Recalled {
  readonly id: string
  readonly kind: MemoryKind
  readonly content: string
  readonly data?: unknown
  readonly at: string
  readonly score: number
}

export interface UserContext {
  readonly user_id: string
  readonly short_term: ReadonlyArray<MemoryEntry>
  readonly working: ReadonlyArray<MemoryEntry>
  readonly long_term: ReadonlyArray<Omit<Recalled, "score">>
  readonly counts: { readonly short_term: number; readonly working: number; readonly long_term: number }
}

export interface MemoryStats {
  /** Users this process has written tier entries for since it started. */
  readonly users: number
  readonly short_term_entries: number
  readonly working_entries: number
  readonly long_term_records_written: number
  readonly recalls: number
  readonly local_embeddings_fallbacks: number
}

export interface MemoryShape {
  readonly remember: (userId: string, tier: CacheTier, note: Note) => Effect.Effect<MemoryEntry>
  readonly entries: (userId: string, tier: CacheTier) => Effect.Effect<ReadonlyArray<MemoryEntry>>
  /** Long-term: appended to the user's memory stream, with its embedding. */
  readonly persist: (userId: string, note: Note) => Effect.Effect<void>
  readonly longTerm: (userId: string, limit: number) => Effect.Effect<ReadonlyArray<Omit<Recalled, "score">>>
  /** The `k` long-term records of this user most similar to `query`. */
  readonly recall: (userId: string, query: string, k: number) => Effect.Effect<ReadonlyArray<Recalled>>
  readonly userContext: (userId: string) => Effect.Effect<UserContext>
  /** Drops expired entries from the tier lists of the users this process knows; returns how many. */
  readonly expire: Effect.Effect<number>
  readonly stats: Effect.Effect<MemoryStats>
}

export class Memory extends Context.Service<Memory, MemoryShape>()("Memory") {}

const Entries = Schema.Array(MemoryEntrySchema)

export const makeMemory = (limits: MemoryLimits = defaultMemoryLimits) =>
  Effect.gen(function* () {
    const cache = yield* Cache
    const store = yield* EventStore
    const model = yield* LanguageModel
    const known = new Set<string>()
    const sizes = new Map<string, { short_term: number; working: number }>()
    const counters = { written: 0, recalls: 0, fallbacks: 0 }

    const keyOf = (userId: string, tier: CacheTier) => `memory:${tier}:${userId}`
    const ttlOf = (tier: CacheTier) => (tier === "short_term" ? limits.shortTermTtl : limits.workingTtl)
    const capOf = (tier: CacheTier) =>
      tier === "short_term" ? limits.shortTermEntries : limits.workingEntries
    const track = (userId: string, tier: CacheTier, count: number) => {
      known.add(userId)
      const current = sizes.get(userId) ?? { short_term: 0, working: 0 }
      sizes.set(userId, { ...current, [tier]: count })
    }

    const entries = (userId: string, tier: CacheTier) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const stored = yield* cache.get(keyOf(userId, tier), Entries)
        return stored._tag === "Some" ? liveEntries(stored.value, now, capOf(tier)) : []
      })

    // Read-modify-write of one user's list: concurrent writes for one user may drop an entry, which
    // a best-effort conversational memory tolerates; long-term records go through the store instead.
    const remember = (userId: string, tier: CacheTier, note: Note) =>
      Effect.gen(function* () {
        const now = yield* Clock.currentTimeMillis
        const entry: MemoryEntry = {
          id: randomUUID(),
          kind: note.kind,
          content: note.content.slice(0, limits.maxContentChars),
          ...(note.data === undefined ? {} : { data: note.data }),
          at: new Date(now).toISOString(),
          expires_at: now + Duration.toMillis(ttlOf(tier))
        }
        const next = [...(yield* entries(userId, tier)), entry].slice(-capOf(tier))
        yield* cache.set(keyOf(userId, tier), next, Entries, ttlOf(tier))
        track(userId, tier, next.length)
        return entry
      }).pipe(withSpan("Memory.remember", { attributes: { tier } }))

    /** Provider embeddings when the provider answers, the local embedding otherwise. */
    const embed = (texts: ReadonlyArray<string>) =>
      model.embed(texts).pipe(
        Effect.map((vectors) => ({
          embedder: model.provider === "heuristic" ? "local" : `provider:${model.provider}`,
          vectors
        })),
        Effect.catch(() =>
          Effect.sync(() => {
            counters.fallbacks++
            return { embedder: "local", vectors: texts.map(localEmbedding) }
          })
        )
      )

    const persist = (userId: string, note: Note) =>
      Effect.gen(function* () {
        const content = note.content.slice(0, limits.maxContentChars)
        const { embedder, vectors } = yield* embed([content])
        const now = yield* Clock.currentTimeMillis
        const record: MemoryRecorded = {
          _tag: "MemoryRecorded",
          id: randomUUID(),
          user_id: userId,
          kind: note.kind,
          content,
          ...(note.data === undefined ? {} : { data: note.data }),
          at: new Date(now).toISOString(),
          embedder,
          embedding: vectors[0] ?? localEmbedding(content)
        }
        yield* store.append(memoryStream(userId), "any", [
          {
            eventId: record.id,
            type: record._tag,
            data: Schema.encodeSync(MemoryRecorded)(record),
            metadata: { timestamp: record.at }
          }
        ])
        counters.written++
      }).pipe(
        Effect.catchTag(["VersionConflict", "EventStoreError"], (error) =>
          Effect.logWarning("memory not persisted", error)
        ),
        withSpan("Memory.persist")
      )

    const records = (userId: string) =>
      store.read(memoryStream(userId)).pipe(
        Stream.mapEffect((stored) => Schema.decodeUnknownEffect(MemoryRecorded)(stored.data)),
        // A record of another user can never be in this stream; the check keeps it that way if one were.
        Stream.filter((record) => record.user_id === userId),
        Stream.runCollect,
        Effect.map((all): ReadonlyArray<MemoryRecorded> => all.slice(-limits.longTermRecall)),
        Effect.catch((error) => Effect.as(Effect.logWarning("memory unreadable", error), []))
      )

    const view = (record: MemoryRecorded): Omit<Recalled, "score"> => ({
      id: record.id,
      kind: record.kind,
      content: record.content,
      ...(record.data === undefined ? {} : { data: record.data }),
      at: record.at
    })

    const recall = (userId: string, query: string, k: number) =>
      Effect.gen(function* () {
        counters.recalls++
        const found = yield* records(userId)
        if (found.length === 0 || k <= 0) return []
        const { embedder, vectors } = yield* embed([query])
        const queryVector = vectors[0] ?? localEmbedding(query)
        const localQuery = embedder === "local" ? queryVector : localEmbedding(query)
        // Vectors of different embedders are not comparable: such records are compared on local embeddings.
        const scored = topK(
          found,
          (record) =>
            record.embedder === embedder
              ? cosine(queryVector, record.embedding)
              : cosine(localQuery, localEmbedding(record.content)),
          k
        )
        return scored.map(({ item, score }) => ({ ...view(item), score: Math.round(score * 1000) / 1000 }))
      }).pipe(withSpan("Memory.recall"))

    const longTerm = (userId: string, limit: number) =>
      Effect.map(records(userId), (all) => all.slice(-limit).reverse().map(view))

    const userContext = (userId: string) =>
      Effect.gen(function* () {
        const [short_term, working, all] = yield* Effect.all(
          [entries(userId, "short_term"), entries(userId, "working"), records(userId)],
          { concurrency: "unbounded" }
        )
        return {
          user_id: userId,
          short_term,
          working,
          long_term: all.slice(-20).reverse().map(view),
          counts: { short_term: short_term.length, working: working.length, long_term: all.length }
        }
      }).pipe(withSpan("Memory.userContext"))

    const expire = Effect.gen(function* () {
      let dropped = 0
      for (const userId of [...known]) {
        for (const tier of ["short_term", "working"] as const) {
          const now = yield* Clock.currentTimeMillis
          const stored = yield* cache.get(keyOf(userId, tier), Entries)
          if (stored._tag === "None") {
            track(userId, tier, 0)
            continue
          }
          const live = liveEntries(stored.value, now, capOf(tier))
          if (live.length === stored.value.length) continue
          dropped += stored.value.length - live.length
          if (live.length === 0) yield* cache.delete(keyOf(userId, tier))
          else {
            const newest = Math.max(...live.map((e) => e.expires_at ?? now))
            yield* cache.set(keyOf(userId, tier), live, Entries, Duration.millis(Math.max(1, newest - now)))
          }
          track(userId, tier, live.length)
        }
        const size = sizes.get(userId)
        if (size && size.short_term === 0 && size.working === 0) {
          known.delete(userId)
          sizes.delete(userId)
        }
      }
      return dropped
    }).pipe(withSpan("Memory.expire"))

    const stats = Effect.sync(() => {
      let short = 0
      let working = 0
      for (const size of sizes.values()) {
        short += size.short_term
        working += size.working
      }
      return {
        users: known.size,
        short_term_entries: short,
        working_entries: working,
        long_term_records_written: counters.written,
        recalls: counters.recalls,
        local_embeddings_fallbacks: counters.fallbacks
      }
    })

    return { remember, entries, persist, longTerm, recall, userContext, expire, stats } satisfies MemoryShape
  })

export const MemoryLive = Layer.effect(Memory, makeMemory())
