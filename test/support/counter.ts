import { Data, Effect, Result, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import type { Decider } from "../../src/domain/Decider.ts"
import { EventStore } from "../../src/eventsourcing/EventStore.ts"

/** A minimal aggregate for exercising the store and the actor runtime: a counter that never goes below 0. */
export const CounterEvent = Schema.Union([
  Schema.TaggedStruct("Incremented", { by: Schema.Int }),
  Schema.TaggedStruct("Decremented", {})
])
export type CounterEvent = typeof CounterEvent.Type

export const CounterState = Schema.Struct({ count: Schema.Int, history: Schema.Array(Schema.Int) })
export type CounterState = typeof CounterState.Type

export type CounterCommand =
  | { readonly _tag: "Increment"; readonly by?: number }
  | { readonly _tag: "Decrement" }
  | { readonly _tag: "Noop" }
  | { readonly _tag: "Explode" }

export class BelowZero extends Data.TaggedError("BelowZero")<{ readonly count: number }> {}

export const counterDecider: Decider<CounterState, CounterCommand, CounterEvent, BelowZero> = {
  type: "counter",
  initialState: { count: 0, history: [] },
  decide: (state, command) => {
    switch (command._tag) {
      case "Increment":
        return Result.succeed([{ _tag: "Incremented", by: command.by ?? 1 }])
      case "Decrement":
        return state.count === 0
          ? Result.fail(new BelowZero({ count: state.count }))
          : Result.succeed([{ _tag: "Decremented" }])
      case "Noop":
        return Result.succeed([])
      case "Explode":
        throw new Error("decider bug")
    }
  },
  evolve: (state, event) => {
    const count = event._tag === "Incremented" ? state.count + event.by : state.count - 1
    // Keeping the last few counts makes replay order matter for the snapshot + tail property.
    return { count, history: [...state.history.slice(-4), count] }
  },
  // Widened to an unknown encoded side, as the Decider interface asks (decoding still validates).
  event: Schema.Unknown.pipe(Schema.decodeTo(CounterEvent)),
  state: Schema.Unknown.pipe(Schema.decodeTo(CounterState))
}

/** A counter event as another process would append it straight to the store. */
export const external = (by: number) => ({
  eventId: randomUUID(),
  type: "Incremented",
  data: { _tag: "Incremented", by },
  metadata: { timestamp: new Date(0).toISOString() }
})

/** Every event of a stream, read straight from the store. */
export const readStream = (streamId: string) =>
  Effect.flatMap(EventStore, (store) => Stream.runCollect(store.read(streamId)))

/** Yields until the condition holds: the actor fibers run between the checks. */
export const waitFor = <A>(probe: Effect.Effect<A>, done: (a: A) => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 1000; i++) {
      if (done(yield* probe)) return
      yield* Effect.yieldNow
    }
    throw new Error("condition not reached")
  })
