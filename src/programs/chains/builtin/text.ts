/** Small text helpers the heuristic fallbacks share. */

export const words = (text: string): ReadonlyArray<string> =>
  text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []

export const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value))

/** Share of `reference`'s distinct words (longer than 3 letters) that also occur in `text`. */
export const overlap = (text: string, reference: string): number => {
  const wanted = new Set(words(reference).filter((w) => w.length > 3))
  if (wanted.size === 0) return 0
  const present = new Set(words(text))
  let hits = 0
  for (const word of wanted) if (present.has(word)) hits++
  return hits / wanted.size
}

const HARD_WORDS = [
  "architecture",
  "refactor",
  "migrate",
  "research",
  "design",
  "debug",
  "optimi",
  "thesis",
  "analy"
]

/** A rough 1–10 complexity from the duration and the vocabulary of the task. */
export const complexityOf = (title: string, description: string, durationMinutes: number): number => {
  const text = `${title} ${description}`.toLowerCase()
  const hard = HARD_WORDS.filter((w) => text.includes(w)).length
  return clamp(Math.round(2 + durationMinutes / 45 + hard * 1.5 + words(description).length / 60), 1, 10)
}
