import type { Result, Schema } from "effect"

/**
 * The pure heart of an aggregate: `decide` turns a command into the events it causes (or a domain
 * error), `evolve` folds one event into the state. No I/O, no clock: a command carries its own
 * timestamp, so deciders are deterministic and property-testable.
 *
 * `event` and `state` are the schemas that persist events and snapshots; `type` names the aggregate
 * and prefixes its stream ids (`${type}-${id}`).
 */
export interface Decider<State, Command, Event, Error> {
  readonly type: string
  readonly initialState: State
  readonly decide: (state: State, command: Command) => Result.Result<ReadonlyArray<Event>, Error>
  readonly evolve: (state: State, event: Event) => State
  readonly event: Schema.Codec<Event, unknown>
  readonly state: Schema.Codec<State, unknown>
  /**
   * The name an event is stored under. When omitted, the encoded event's `_tag` (or `type`) field is
   * used, and the aggregate's `type` for events that have neither.
   */
  readonly eventType?: (event: Event) => string
}
