/**
 * Why an actor left memory: `idle` (no command for the idle TTL), `evicted` (the live-actor ceiling
 * needed its place; it was the least recently used idle one) or `empty` (its stream has no events, so
 * there is nothing worth keeping warm: a read or refused command for an id that does not exist).
 */
export type PassivationReason = "idle" | "evicted" | "empty"

export const PASSIVATION_REASONS: ReadonlyArray<PassivationReason> = ["idle", "evicted", "empty"]

export type PassivationCounts = Record<PassivationReason, number>

/** What the residency needs of a live actor. Both calls are synchronous and made on the JS thread. */
export interface Resident {
  /** Nothing queued and nothing being handled: only such an actor may be stopped. */
  readonly isIdle: () => boolean
  /** Stops the actor now: its runtime forgets it (calling `leave`) and its mailbox shuts down. */
  readonly evict: () => void
}

/**
 * The live actors of a process, in least-recently-used order, under one ceiling shared by every entity
 * runtime (a memory bound is per process, not per aggregate). A `Map` keeps insertion order, so "used"
 * is a delete and a re-insert and the first key is always the least recently used.
 *
 * Everything here is synchronous: a command is either counted in a live actor or finds none, and an
 * eviction can never stop an actor that has just been handed a command (it would no longer be idle).
 */
export class Residency {
  readonly #order = new Map<Resident, true>()

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.#order.size
  }

  /**
   * Takes `resident` in, first evicting least recently used idle actors while the ceiling is reached.
   * False when every live actor has work in hand: the caller then keeps the newcomer out of memory
   * (does not warm it, or stops it once its own work is done) rather than exceed the bound.
   */
  admit(resident: Resident): boolean {
    if (this.#order.size >= this.capacity) {
      // Deleting the visited key while iterating a Map is safe; evict() deletes through leave().
      for (const candidate of this.#order.keys()) {
        if (this.#order.size < this.capacity) break
        if (candidate.isIdle()) candidate.evict()
      }
      if (this.#order.size >= this.capacity) return false
    }
    this.#order.set(resident, true)
    return true
  }

  /** Marks `resident` as the most recently used. */
  touch(resident: Resident): void {
    if (this.#order.delete(resident)) this.#order.set(resident, true)
  }

  leave(resident: Resident): void {
    this.#order.delete(resident)
  }
}
