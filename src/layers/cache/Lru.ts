/** One L1 entry: the JSON form bounds memory; the decoded value is kept for the schema that made it. */
export interface LruEntry {
  readonly json: string
  readonly bytes: number
  readonly expiresAt: number
  decoded: { readonly schema: unknown; readonly value: unknown } | undefined
}

export interface LruCounters {
  evictions: number
  expirations: number
}

// Per-entry bookkeeping (Map slot, entry object, key string header), a rough figure that keeps the
// byte bound honest for tiny values.
const ENTRY_OVERHEAD_BYTES = 96

export const entryBytes = (key: string, json: string): number =>
  ENTRY_OVERHEAD_BYTES + 2 * (key.length + json.length)

/**
 * A least-recently-used map bounded both by entry count and by approximate bytes. A Map keeps insertion
 * order, so re-inserting on access makes its first key the least recently used. Synchronous on purpose:
 * it is only touched inside `Effect.sync`, so no interleaving can observe it half-updated.
 */
export class Lru {
  private readonly map = new Map<string, LruEntry>()
  private totalBytes = 0
  readonly counters: LruCounters = { evictions: 0, expirations: 0 }

  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number
  ) {}

  get size(): number {
    return this.map.size
  }

  get bytes(): number {
    return this.totalBytes
  }

  get(key: string, now: number): LruEntry | undefined {
    const entry = this.map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.remove(key, entry)
      this.counters.expirations++
      return undefined
    }
    this.map.delete(key)
    this.map.set(key, entry)
    return entry
  }

  set(key: string, entry: LruEntry): void {
    const previous = this.map.get(key)
    if (previous !== undefined) this.remove(key, previous)
    // An entry that could never fit would evict everything and still not fit.
    if (this.maxEntries <= 0 || entry.bytes > this.maxBytes) return
    this.map.set(key, entry)
    this.totalBytes += entry.bytes
    while (this.map.size > this.maxEntries || this.totalBytes > this.maxBytes) {
      const oldest = this.map.keys().next()
      if (oldest.done) break
      this.remove(oldest.value, this.map.get(oldest.value)!)
      this.counters.evictions++
    }
  }

  delete(key: string): boolean {
    const entry = this.map.get(key)
    if (entry === undefined) return false
    this.remove(key, entry)
    return true
  }

  deleteByPrefix(prefix: string): number {
    let removed = 0
    for (const [key, entry] of this.map) {
      if (key.startsWith(prefix)) {
        this.remove(key, entry)
        removed++
      }
    }
    return removed
  }

  clear(): void {
    this.map.clear()
    this.totalBytes = 0
  }

  private remove(key: string, entry: LruEntry): void {
    this.map.delete(key)
    this.totalBytes -= entry.bytes
  }
}
