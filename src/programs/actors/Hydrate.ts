import { Effect, Option, ParseResult, Schema, Stream } from "effect"
import type { Decider } from "../../domain/Decider.ts"
import type { EventStoreError, EventStoreShape, StoredEvent } from "../../layers/EventStore.ts"

export interface Hydrated<State> {
  readonly state: State
  /** Version of the last event folded into `state` (0 for a stream without events). */
  readonly version: number
  /** How many events were read from the stream to get here (the snapshot excluded). */
  readonly eventsRead: number
}

export const streamIdOf = (decider: { readonly type: string }, entityId: string): string =>
  `${decider.type}-${entityId}`

/** An event in the store that no longer decodes is corrupt data or a missing migration: a defect. */
const decodeEvent = <Event>(schema: Schema.Schema<Event, unknown>, stored: StoredEvent) =>
  Schema.decodeUnknown(schema)(stored.data).pipe(
    Effect.mapError((error) => ParseResult.TreeFormatter.formatErrorSync(error)),
    Effect.orDieWith(
      (message) =>
        new Error(
          `event ${stored.eventId} (${stored.streamId}@${stored.version}) does not decode: ${message}`
        )
    )
  )

/** Folds the events after `from.version` into `from.state`. */
export const catchUp = <State, Command, Event, Err>(
  store: EventStoreShape,
  decider: Decider<State, Command, Event, Err>,
  streamId: string,
  from: { readonly state: State; readonly version: number }
): Effect.Effect<Hydrated<State>, EventStoreError> =>
  store.read(streamId, { fromVersion: from.version + 1 }).pipe(
    Stream.mapEffect((stored) =>
      Effect.map(decodeEvent(decider.event, stored), (event) => ({
        event,
        version: stored.version
      }))
    ),
    Stream.runFold(
      { state: from.state, version: from.version, eventsRead: 0 },
      (acc, { event, version }) => ({
        state: decider.evolve(acc.state, event),
        version,
        eventsRead: acc.eventsRead + 1
      })
    )
  )

/**
 * State = latest snapshot + the events after it. A snapshot that no longer decodes (the state schema
 * changed) is ignored in favour of a full replay rather than failing the entity.
 */
export const hydrate = <State, Command, Event, Err>(
  store: EventStoreShape,
  decider: Decider<State, Command, Event, Err>,
  streamId: string
): Effect.Effect<Hydrated<State>, EventStoreError> =>
  Effect.gen(function* () {
    const snapshot = yield* store.loadSnapshot(streamId)
    const from = yield* Option.match(snapshot, {
      onNone: () => Effect.succeed({ state: decider.initialState, version: 0 }),
      onSome: (snap) =>
        Schema.decodeUnknown(decider.state)(snap.state).pipe(
          Effect.map((state) => ({ state, version: snap.version })),
          Effect.catchAll((error) =>
            Effect.logWarning("snapshot does not decode; replaying the whole stream").pipe(
              Effect.annotateLogs({ streamId, error: error.message }),
              Effect.as({ state: decider.initialState, version: 0 })
            )
          )
        )
    })
    return yield* catchUp(store, decider, streamId, from)
  })
