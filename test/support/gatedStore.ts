import { Deferred, Effect, Layer } from "effect"
import { EventStore } from "../../src/eventsourcing/EventStore.ts"

/**
 * Wraps the EventStore in the context so that every append waits until `open` is called: lets a test
 * hold an actor in the middle of a command while more commands pile up in its mailbox.
 */
export const makeGate = Effect.gen(function* () {
  const gate = yield* Deferred.make<void>()
  const layer = Layer.effect(
    EventStore,
    Effect.map(EventStore, (store) => ({
      ...store,
      append: (...args: Parameters<typeof store.append>) =>
        Effect.andThen(Deferred.await(gate), store.append(...args))
    }))
  )
  return { layer, open: Deferred.succeed(gate, undefined) }
})
