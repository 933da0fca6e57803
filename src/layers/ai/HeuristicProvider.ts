import { Effect } from "effect"
import type { Embedding, LanguageModelShape } from "./LanguageModelShape.ts"
import { ModelUnavailable } from "./errors.ts"

export const EMBEDDING_DIMENSIONS = 256

/** FNV-1a, 32 bits: fast, stable across processes and platforms. */
const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

const tokens = (text: string): ReadonlyArray<string> => text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []

/**
 * A deterministic local embedding: a hashed bag of words and word pairs (the feature-hashing trick),
 * each feature adding ±1 to one of 256 dimensions (the sign from another hash bit halves collision
 * bias), then scaled to unit length so cosine similarity is a dot product. Texts sharing words point
 * the same way; it knows nothing of synonyms. The empty text is the zero vector.
 */
export const localEmbedding = (text: string): Embedding => {
  const vector = new Array<number>(EMBEDDING_DIMENSIONS).fill(0)
  const words = tokens(text)
  const features = [...words, ...words.slice(1).map((word, i) => `${words[i]} ${word}`)]
  for (const feature of features) {
    const hash = fnv1a(feature)
    vector[hash % EMBEDDING_DIMENSIONS]! += hash & 0x80000000 ? -1 : 1
  }
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0))
  return norm === 0 ? vector : vector.map((x) => x / norm)
}

/**
 * The embedded default: no network, no key. It cannot write text, so `generateObject` fails at once
 * with `ModelUnavailable` and callers use their heuristic result; `embed` is `localEmbedding`.
 */
export const HeuristicProvider: LanguageModelShape = {
  provider: "heuristic",
  generateObject: () =>
    Effect.fail(
      new ModelUnavailable({
        provider: "heuristic",
        message: "the heuristic provider does not generate text"
      })
    ),
  embed: (texts) => Effect.sync(() => texts.map(localEmbedding))
}
