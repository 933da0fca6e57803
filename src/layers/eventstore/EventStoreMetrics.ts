import { Cause, Effect, Exit, Layer, Option } from "effect"
import { EventStore } from "../../eventsourcing/EventStore.ts"
import { Metrics, timed } from "../observability/Metrics.ts"
import { withSpan } from "../observability/spans.ts"

/**
 * The event store with every append timed and counted (latency by outcome, conflicts, events written).
 * A decorator, so neither implementation carries metrics code and both are measured the same way.
 */
export const EventStoreMetricsLive = Layer.effect(
  EventStore,
  Effect.gen(function* () {
    const store = yield* EventStore
    const metrics = yield* Metrics
    metrics.store.known(store.kind)
    return EventStore.of({
      ...store,
      append: (streamId, expectedVersion, events) =>
        timed(store.append(streamId, expectedVersion, events), (seconds, exit) => {
          if (Exit.isSuccess(exit)) {
            metrics.store.observeAppend(
              store.kind,
              seconds,
              "ok",
              exit.value.duplicate ? 0 : exit.value.events.length
            )
            return
          }
          const failure = Cause.findErrorOption(exit.cause)
          const outcome =
            Option.isSome(failure) && failure.value._tag === "VersionConflict" ? "conflict" : "error"
          metrics.store.observeAppend(store.kind, seconds, outcome)
        }).pipe(withSpan("EventStore.append", { attributes: { "eventstore.stream": streamId } }))
    })
  })
)
