import { Effect, Option, Result, Schema } from "effect"
import type { Decider } from "../domain/Decider.ts"
import { type EventStoreError, type EventStoreShape, READ_PAGE_SIZE, type StoredEvent } from "./EventStore.ts"

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
const undecodable = (stored: StoredEvent, error: Schema.SchemaError) =>
  new Error(
    `event ${stored.eventId} (${stored.streamId}@${stored.version}) does not decode: ${error.message}`
  )

type EventDecoder = (input: unknown) => Result.Result<unknown, Schema.SchemaError>

/**
 * One decoder per event schema, made once: an actor catches up on every read, and making the decoder
 * (the schema's parser, its closures) each time cost more than decoding an empty tail.
 */
const decoders = new WeakMap<object, EventDecoder>()

const decoderOf = <Event>(schema: Schema.Codec<Event, unknown>) => {
  let decoder = decoders.get(schema)
  if (decoder === undefined) {
    decoder = Schema.decodeUnknownResult(schema)
    decoders.set(schema, decoder)
  }
  return decoder as (input: unknown) => Result.Result<Event, Schema.SchemaError>
}

/**
 * Folds the events after `from.version` into `from.state`, page by page. A plain loop over
 * `EventStore.readPage` rather than a `Stream`: an actor catches up on every read, and most of the time
 * the tail is empty or one event, where running a stream would cost more than the query.
 */
export const catchUp = <State, Command, Event, Err>(
  store: EventStoreShape,
  decider: Decider<State, Command, Event, Err>,
  streamId: string,
  from: { readonly state: State; readonly version: number }
): Effect.Effect<Hydrated<State>, EventStoreError> => {
  const decode = decoderOf(decider.event)
  const fold = (acc: Hydrated<State>): Effect.Effect<Hydrated<State>, EventStoreError> =>
    Effect.flatMap(store.readPage(streamId, acc.version + 1), (page) => {
      let { state, version } = acc
      for (const stored of page) {
        const event = decode(stored.data)
        if (Result.isFailure(event)) return Effect.die(undecodable(stored, event.failure))
        state = decider.evolve(state, event.success)
        version = stored.version
      }
      const next = { state, version, eventsRead: acc.eventsRead + page.length }
      return page.length < READ_PAGE_SIZE ? Effect.succeed(next) : fold(next)
    })
  return fold({ state: from.state, version: from.version, eventsRead: 0 })
}

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
        Schema.decodeUnknownEffect(decider.state)(snap.state).pipe(
          Effect.map((state) => ({ state, version: snap.version })),
          Effect.catch((error) =>
            Effect.logWarning("snapshot does not decode; replaying the whole stream").pipe(
              Effect.annotateLogs({ streamId, error: error.message }),
              Effect.as({ state: decider.initialState, version: 0 })
            )
          )
        )
    })
    return yield* catchUp(store, decider, streamId, from)
  })
