import { Clock, Duration, Effect, Exit, Ref, Schema } from "effect"

export type BreakerState =
  | { readonly _tag: "Closed"; readonly failures: number }
  | { readonly _tag: "Open"; readonly until: number }
  | { readonly _tag: "HalfOpen" }

/** The call was not attempted: the breaker is open (or its single half-open probe is in flight). */
export class BreakerOpen extends Schema.TaggedError<BreakerOpen>()("BreakerOpen", {}) {}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly failureThreshold: number
  /** How long it stays open before one probe call is let through. */
  readonly resetAfter: Duration.Input
}

export interface Breaker {
  readonly guard: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | BreakerOpen, R>
  readonly state: Effect.Effect<BreakerState>
  readonly trips: Effect.Effect<number>
}

/**
 * A consecutive-failure circuit breaker on Ref and Clock, so its timing is testable under TestClock.
 * Rejected calls are not failures (the original system's breaker counted its own rejections and never
 * closed again). An interrupted probe counts as a failure, so the breaker can never stick half-open.
 */
export const makeBreaker = (options: BreakerOptions): Effect.Effect<Breaker> =>
  Effect.gen(function* () {
    const resetMs = Duration.toMillis(options.resetAfter)
    const state = yield* Ref.make<BreakerState>({ _tag: "Closed", failures: 0 })
    const trips = yield* Ref.make(0)

    const admit = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.modify(state, (current): [boolean, BreakerState] => {
        switch (current._tag) {
          case "Closed":
            return [true, current]
          case "Open":
            return now >= current.until ? [true, { _tag: "HalfOpen" }] : [false, current]
          case "HalfOpen":
            return [false, current]
        }
      })
    )

    const onFailure = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.modify(state, (current): [boolean, BreakerState] => {
        if (current._tag === "Closed" && current.failures + 1 < options.failureThreshold) {
          return [false, { _tag: "Closed", failures: current.failures + 1 }]
        }
        return [current._tag !== "Open", { _tag: "Open", until: now + resetMs }]
      })
    ).pipe(Effect.flatMap((tripped) => (tripped ? Ref.update(trips, (n) => n + 1) : Effect.void)))

    const onSuccess = Ref.set(state, { _tag: "Closed", failures: 0 })

    const guard = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | BreakerOpen, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          admit,
          (admitted): Effect.Effect<A, E | BreakerOpen, R> =>
            admitted
              ? restore(effect).pipe(Effect.onExit((exit) => (Exit.isSuccess(exit) ? onSuccess : onFailure)))
              : Effect.fail(new BreakerOpen())
        )
      )

    return { guard, state: Ref.get(state), trips: Ref.get(trips) }
  })
