import { Deferred, Effect, Ref } from "effect"
import { BulkheadFull } from "./errors.ts"

export interface BulkheadConfig {
  readonly maxConcurrent: number
  readonly maxQueue: number
}

interface State {
  readonly active: number
  /** FIFO; a waiter leaves it either by being handed a slot or by being interrupted. */
  readonly waiters: ReadonlyArray<Deferred.Deferred<void>>
}

export interface Bulkhead {
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BulkheadFull, R>
  readonly snapshot: Effect.Effect<{ readonly active: number; readonly queued: number }>
}

/**
 * A semaphore with a bounded, observable wait queue. Slots are handed directly from a finishing call to
 * the oldest waiter, so a newcomer can never overtake the queue; an interrupted waiter either leaves the
 * queue or, if a slot was already handed to it, passes that slot on — capacity is never lost.
 */
export const makeBulkhead = (config: BulkheadConfig): Effect.Effect<Bulkhead> =>
  Effect.map(Ref.make<State>({ active: 0, waiters: [] }), (ref) => {
    const release: Effect.Effect<void> = Effect.flatMap(
      Ref.modify(ref, (state): readonly [Deferred.Deferred<void> | undefined, State] => {
        const [next, ...rest] = state.waiters
        return next === undefined
          ? [undefined, { ...state, active: state.active - 1 }]
          : [next, { ...state, waiters: rest }]
      }),
      (next) => (next === undefined ? Effect.void : Deferred.succeed(next, undefined))
    )

    const acquire = (restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>) =>
      Effect.gen(function* () {
        const ticket = yield* Deferred.make<void>()
        const decision = yield* Ref.modify(ref, (state): readonly ["run" | "wait" | "full", State] => {
          if (state.active < config.maxConcurrent) return ["run", { ...state, active: state.active + 1 }]
          if (state.waiters.length < config.maxQueue) {
            return ["wait", { ...state, waiters: [...state.waiters, ticket] }]
          }
          return ["full", state]
        })
        if (decision === "full") {
          return yield* new BulkheadFull({ maxConcurrent: config.maxConcurrent, maxQueue: config.maxQueue })
        }
        if (decision === "wait") {
          yield* restore(Deferred.await(ticket)).pipe(
            Effect.onInterrupt(() =>
              Effect.flatMap(
                Ref.modify(ref, (state) =>
                  state.waiters.includes(ticket)
                    ? [false, { ...state, waiters: state.waiters.filter((waiter) => waiter !== ticket) }]
                    : [true, state]
                ),
                (handedOver) => (handedOver ? release : Effect.void)
              )
            )
          )
        }
      })

    return {
      run: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.uninterruptibleMask((restore) =>
          Effect.andThen(acquire(restore), Effect.ensuring(restore(effect), release))
        ),
      snapshot: Effect.map(Ref.get(ref), (state) => ({ active: state.active, queued: state.waiters.length }))
    }
  })
