import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  type Exit,
  FiberSet,
  Option,
  Queue,
  Random,
  References,
  Result,
  Schema,
  type Scope,
  Semaphore,
  Tracer
} from "effect"
import { randomUUID } from "node:crypto"
import type { Decider } from "../domain/Decider.ts"
import {
  EventStore,
  EventStoreError,
  type NewEvent,
  type StoredEvent,
  VersionConflict
} from "./EventStore.ts"
import { catchUp, type Hydrated, hydrate, streamIdOf } from "./Hydrate.ts"
import { withSpan } from "../layers/observability/spans.ts"
import { type PassivationCounts, type PassivationReason, type Resident, Residency } from "./Residency.ts"

/** The entity's mailbox is full: the caller should come back after `retryAfterSeconds` (HTTP 503). */
export class Overloaded extends Schema.TaggedError<Overloaded>()("Overloaded", {
  entity: Schema.String,
  retryAfterSeconds: Schema.Number
}) {
  override get message(): string {
    return `entity ${this.entity} is overloaded, retry after ${this.retryAfterSeconds}s`
  }
}

export interface EntityRuntimeOptions {
  /** Commands waiting per entity beyond which `send` fails with `Overloaded`. */
  readonly mailboxCapacity: number
  /** An actor without a command for this long is stopped and its state dropped from memory. */
  readonly idleTtl: Duration.Input
  /** A snapshot is saved each time the version crosses a multiple of this. */
  readonly snapshotEvery: number
  /** How many times a command is re-decided on fresh state after losing a race to another writer. */
  readonly maxConflictRetries: number
  readonly retryAfter: Duration.Input
  /**
   * Live actors at most, when the runtime is not given a shared `Residency` (the actor system shares one
   * across all its runtimes, sized by `ACTORS_MAX`). At the ceiling the least recently used idle actor
   * is passivated to make room; when every live actor has work in hand, an actor that finds no room
   * stops as soon as its own work is done. Beyond the ceiling only actors with work in hand live, so
   * the excess is bounded by the requests in flight.
   */
  readonly maxLiveActors: number
}

export const defaultEntityRuntimeOptions: EntityRuntimeOptions = {
  mailboxCapacity: 1024,
  idleTtl: Duration.minutes(5),
  snapshotEvery: 100,
  maxConflictRetries: 10,
  retryAfter: Duration.seconds(1),
  maxLiveActors: 10_000
}

export interface CommandContext {
  readonly correlationId?: string
  readonly causationId?: string
}

/** What a handled command produced, so a caller (an HTTP handler) can answer without reading again. */
export interface CommandResult<State, Event> {
  readonly state: State
  readonly version: number
  /** The events this command caused (empty when it changed nothing). */
  readonly events: ReadonlyArray<Event>
  readonly stored: ReadonlyArray<StoredEvent>
}

/**
 * How a command ended: `ok` (answered, events or not), `rejected` (the decider refused it), `conflict`
 * (still losing the race after every retry), `overloaded` (mailbox full, never handled), `failed`
 * (the store failed, or a defect).
 */
export type CommandOutcome = "ok" | "rejected" | "conflict" | "overloaded" | "failed"
export const COMMAND_OUTCOMES: ReadonlyArray<CommandOutcome> = [
  "ok",
  "rejected",
  "conflict",
  "overloaded",
  "failed"
]

export interface EntityStats {
  readonly type: string
  readonly liveActors: number
  readonly mailboxDepth: number
  /** Commands decided again after losing a race to another writer, since start. */
  readonly conflictRetries: number
  /** Commands (not reads) by how they ended, since start. */
  readonly outcomes: Readonly<Record<CommandOutcome, number>>
}

/** The outcome of a handled command from its exit: only the error's type is looked at. */
const outcomeOf = (exit: Exit.Exit<unknown, unknown>): CommandOutcome => {
  if (exit._tag === "Success") return "ok"
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isNone(error)) return "failed"
  if (error.value instanceof VersionConflict) return "conflict"
  return isEventStoreError(error.value) ? "failed" : "rejected"
}

export interface EntityRuntime<State, Command, Event, Err> {
  readonly type: string
  readonly send: (
    entityId: string,
    command: Command,
    context?: CommandContext
  ) => Effect.Effect<CommandResult<State, Event>, Err | Overloaded | VersionConflict | EventStoreError>
  /**
   * The entity's current state, answered by its actor after catching up with the store's tail, so a
   * read sees every write that committed before it, from this process or another. Queued behind the
   * commands sent before it, never interleaved with one.
   */
  readonly read: (entityId: string) => Effect.Effect<EntityView<State>, Overloaded | EventStoreError>
  readonly stats: Effect.Effect<EntityStats>
  /** Actors of this runtime stopped since start, by reason (monotonic totals). */
  readonly passivations: Effect.Effect<PassivationCounts>
}

export interface EntityView<State> {
  readonly state: State
  /** Version of the last event folded into `state` (0 for an entity without events). */
  readonly version: number
}

/** A command to decide, or (`command` absent) a request for the caught-up state. */
interface Envelope<State, Command, Event, Err> {
  readonly command: Option.Option<Command>
  readonly context: CommandContext | undefined
  readonly reply: Deferred.Deferred<CommandResult<State, Event>, Err | VersionConflict | EventStoreError>
  /** The sender's span: the actor's fiber is not the sender's, so the trace is carried across by hand. */
  readonly parent: Option.Option<Tracer.AnySpan>
  /** Whether the sender traces (an unsampled request does not): the actor's span follows the sender. */
  readonly tracing: boolean
}

interface Actor<State, Command, Event, Err> extends Resident {
  readonly entityId: string
  readonly mailbox: Queue.Queue<Envelope<State, Command, Event, Err>>
  /** Written only by the actor's fiber; read (never written) by the idle-read fast path. */
  readonly entity: EntityState<State>
  /** Commands offered and not yet answered (queued or being handled): 0 means the actor may stop. */
  pending: number
  lastActiveMillis: number
  /**
   * Counted under the live-actor ceiling. An actor started by a command is not, until that command has
   * shown its stream to have events: a command for an id that does not exist must not evict a warm
   * actor only to stop at once itself. Until then it lives only as long as its work in hand.
   */
  resident: boolean
}

/** Mutable on purpose: only the actor's own fiber ever touches it. */
interface EntityState<State> {
  loaded: boolean
  /** Set while the store may hold events this state has not seen (a conflict, an unknown outcome). */
  stale: boolean
  state: State
  version: number
}

/** Empty streams remembered per runtime (ids of ~40 characters: about 1 MB at most). */
const MAX_REMEMBERED_EMPTY = 10_000

const isEventStoreError = (error: unknown): error is EventStoreError => error instanceof EventStoreError

const encodedTag = (encoded: unknown): string | undefined => {
  if (typeof encoded !== "object" || encoded === null) return undefined
  const tag = "_tag" in encoded ? encoded._tag : "type" in encoded ? encoded.type : undefined
  return typeof tag === "string" ? tag : undefined
}

/**
 * One actor per entity id: a fiber draining a bounded mailbox, so the commands of one entity are
 * decided strictly one at a time against warm state, while different entities run concurrently.
 * Between processes the store's optimistic concurrency is the guard: a lost race reloads the tail
 * and decides the command again.
 *
 * Memory is bounded: only entities whose stream has events keep an actor once their work is done (a
 * read or a refused command for an unknown id leaves none), and the actors kept live under one ceiling
 * (`Residency`, shared by the actor system's runtimes), least recently used idle ones passivated first.
 */
export const makeEntityRuntime = <State, Command, Event, Err>(
  decider: Decider<State, Command, Event, Err>,
  overrides: Partial<EntityRuntimeOptions> = {},
  shared?: Residency
): Effect.Effect<EntityRuntime<State, Command, Event, Err>, never, EventStore | Scope.Scope> =>
  Effect.gen(function* () {
    const options = { ...defaultEntityRuntimeOptions, ...overrides }
    const residency = shared ?? new Residency(options.maxLiveActors)
    const passivated: PassivationCounts = { idle: 0, evicted: 0, empty: 0 }
    const store = yield* EventStore
    const fibers = yield* FiberSet.make()
    // Actors are forked from the runtime's own context, captured here, not the context of the request
    // that happens to start one: they must not inherit its references (request id in logs, a tracer
    // disabled for an unsampled request, the request itself kept alive for the actor's lifetime).
    const runDetached = yield* FiberSet.runtime(fibers)<never>()
    // Only starting an actor needs a lock (it is effectful); everything else is synchronous.
    const spawning = yield* Semaphore.make(1)
    const clock = yield* Clock.Clock
    const idleTtlMillis = Duration.toMillis(options.idleTtl)
    let conflictRetries = 0
    const outcomes: Record<CommandOutcome, number> = {
      ok: 0,
      rejected: 0,
      conflict: 0,
      overloaded: 0,
      failed: 0
    }
    const actors = new Map<string, Actor<State, Command, Event, Err>>()
    const retryAfterSeconds = Math.max(1, Math.ceil(Duration.toSeconds(options.retryAfter)))
    // Synchronous: an event encodes without I/O, and a Result costs less than an Effect per event.
    const encodeEvent = Schema.encodeResult(decider.event)
    const encodeState = Schema.encodeEffect(decider.state)

    const eventType = (event: Event, encoded: unknown): string =>
      decider.eventType?.(event) ?? encodedTag(encoded) ?? decider.type

    const refresh = (streamId: string, entity: EntityState<State>) =>
      Effect.gen(function* () {
        const next = entity.loaded
          ? yield* catchUp(store, decider, streamId, entity)
          : yield* hydrate(store, decider, streamId)
        entity.state = next.state
        entity.version = next.version
        entity.loaded = true
        entity.stale = false
      })

    const maybeSnapshot = (streamId: string, entity: EntityState<State>, previousVersion: number) =>
      Math.floor(entity.version / options.snapshotEvery) > Math.floor(previousVersion / options.snapshotEvery)
        ? encodeState(entity.state).pipe(
            Effect.flatMap((state) => store.saveSnapshot({ streamId, version: entity.version, state })),
            // A missed snapshot only makes the next load read more events.
            Effect.catch((error) =>
              Effect.logWarning("snapshot not saved").pipe(
                Effect.annotateLogs({ streamId, error: error.message })
              )
            )
          )
        : Effect.void

    const toNewEvents = (
      events: ReadonlyArray<Event>,
      context: CommandContext | undefined
    ): Effect.Effect<ReadonlyArray<NewEvent>> =>
      Effect.suspend(() => {
        const timestamp = new Date(clock.currentTimeMillisUnsafe()).toISOString()
        const metadata = {
          timestamp,
          ...(context?.correlationId === undefined ? {} : { correlationId: context.correlationId }),
          ...(context?.causationId === undefined ? {} : { causationId: context.causationId })
        }
        const batch: Array<NewEvent> = []
        for (const event of events) {
          const data = encodeEvent(event)
          // A decided event that does not encode is a bug in the decider: a defect, as before.
          if (Result.isFailure(data)) return Effect.die(data.failure)
          batch.push({
            eventId: randomUUID(),
            type: eventType(event, data.success),
            data: data.success,
            metadata
          })
        }
        return Effect.succeed(batch)
      })

    const handle = (
      streamId: string,
      entity: EntityState<State>,
      envelope: Envelope<State, Command, Event, Err>
    ): Effect.Effect<CommandResult<State, Event>, Err | VersionConflict | EventStoreError> =>
      Effect.gen(function* () {
        if (Option.isNone(envelope.command)) {
          // Another process may have written since this state was loaded: the tail is read every time.
          yield* refresh(streamId, entity)
          return { state: entity.state, version: entity.version, events: [], stored: [] }
        }
        const command = envelope.command.value
        for (let attempt = 0; ; attempt++) {
          if (!entity.loaded || entity.stale) yield* refresh(streamId, entity)
          const decision = decider.decide(entity.state, command)
          if (Result.isFailure(decision)) return yield* Effect.fail(decision.failure)
          const events = decision.success
          if (events.length === 0) return { state: entity.state, version: entity.version, events, stored: [] }
          const batch = yield* toNewEvents(events, envelope.context)
          const expected = entity.version === 0 ? ("noStream" as const) : entity.version
          entity.stale = true // until the outcome is known and folded in
          // A failed append may have committed: re-sending the same event ids is answered from the store.
          const appended = yield* store.append(streamId, expected, batch).pipe(
            // Once more, without a Schedule: a retry policy allocates its driver on every command.
            Effect.catchIf(isEventStoreError, () => store.append(streamId, expected, batch)),
            Effect.result
          )
          if (Result.isFailure(appended)) {
            const error = appended.failure
            if (error instanceof VersionConflict && attempt < options.maxConflictRetries) {
              conflictRetries++
              // Jitter, growing with the attempts, keeps two writers from colliding in lock step.
              if (attempt > 0)
                yield* Effect.sleep(
                  Duration.millis(yield* Random.nextIntBetween(0, 2 * attempt + 1, { halfOpen: true }))
                )
              continue
            }
            return yield* Effect.fail(error)
          }
          const previousVersion = entity.version
          entity.state = events.reduce(decider.evolve, entity.state)
          entity.version = appended.success.version
          entity.stale = false
          yield* maybeSnapshot(streamId, entity, previousVersion)
          return { state: entity.state, version: entity.version, events, stored: appended.success.events }
        }
      })

    const traced = (
      streamId: string,
      entity: EntityState<State>,
      envelope: Envelope<State, Command, Event, Err>
    ) => {
      const spanned = handle(streamId, entity, envelope).pipe(
        withSpan(`Actor.${decider.type}.${Option.isSome(envelope.command) ? "command" : "read"}`, {
          attributes: { "actor.stream": streamId }
        })
      )
      if (!envelope.tracing) return Effect.withTracerEnabled(spanned, false)
      return Option.isSome(envelope.parent)
        ? Effect.withParentSpan(spanned, envelope.parent.value, { captureStackTrace: false })
        : spanned
    }

    /**
     * Stops `actor` now if it is still the live actor of its entity: forgotten by the map and the
     * residency in one synchronous step (so no command can be offered to it afterwards), its mailbox shut
     * down so its fiber ends. Only called for an actor with nothing pending.
     */
    const stop = (actor: Actor<State, Command, Event, Err>, reason: PassivationReason) => {
      if (actors.get(actor.entityId) !== actor) return
      actors.delete(actor.entityId)
      if (actor.resident) residency.leave(actor)
      passivated[reason]++
      Queue.shutdownUnsafe(actor.mailbox)
    }

    /**
     * After each command or read, once nothing else is in hand: an actor whose stream still has no
     * events (a refused command for an id that does not exist) holds nothing worth keeping, so it stops
     * at once instead of waiting for the idle TTL; one whose stream does have events takes its place
     * under the ceiling, or stops if every live actor is busy.
     */
    const settle = (actor: Actor<State, Command, Event, Err>) => {
      actor.pending--
      actor.lastActiveMillis = clock.currentTimeMillisUnsafe()
      if (actor.pending > 0) return
      if (actor.entity.version === 0) stop(actor, "empty")
      else if (!actor.resident) {
        actor.resident = residency.admit(actor)
        if (!actor.resident) stop(actor, "evicted")
      }
    }

    const runActor = (actor: Actor<State, Command, Event, Err>) => {
      const streamId = streamIdOf(decider, actor.entityId)
      const entity = actor.entity
      // Ends when its mailbox is shut down (take is interrupted) or the runtime's scope closes.
      // No yield per command: the loop suspends on `take` whenever the mailbox is empty.
      return Effect.forever(
        Effect.flatMap(Queue.take(actor.mailbox), (envelope) =>
          // A failure or a defect of one command is its caller's answer; the actor goes on. Settled
          // before the reply, so a caller who got its answer sees the actor already stopped if empty.
          Deferred.into(
            Effect.onExit(traced(streamId, entity, envelope), (exit) =>
              Effect.sync(() => {
                if (Option.isSome(envelope.command)) outcomes[outcomeOf(exit)]++
                settle(actor)
              })
            ),
            envelope.reply
          )
        ),
        { disableYield: true }
      ).pipe(
        Effect.ensuring(
          Queue.clear(actor.mailbox).pipe(
            // A shut-down mailbox holds nothing (passivation only shuts an empty one).
            Effect.catchCause(() => Effect.succeed([])),
            Effect.flatMap((left) =>
              Effect.forEach(left, (envelope) => Deferred.interrupt(envelope.reply), { discard: true })
            )
          )
        )
      )
    }

    /**
     * A new actor for `entityId`. With `loaded` (a read has just hydrated an entity that exists) it is
     * resident from the start, or not started (undefined) when the ceiling is reached and no idle actor
     * can make room; without, it is started for a command and joins the ceiling when that is settled.
     * Synchronous after the mailbox is made, so the check and the insertion cannot interleave.
     */
    const spawn = (entityId: string, loaded?: Hydrated<State>) =>
      Effect.map(Queue.dropping<Envelope<State, Command, Event, Err>>(options.mailboxCapacity), (mailbox) => {
        const existing = actors.get(entityId)
        if (existing) return existing
        const actor: Actor<State, Command, Event, Err> = {
          entityId,
          mailbox,
          entity:
            loaded === undefined
              ? { loaded: false, stale: false, state: decider.initialState, version: 0 }
              : { loaded: true, stale: false, state: loaded.state, version: loaded.version },
          pending: 0,
          lastActiveMillis: clock.currentTimeMillisUnsafe(),
          resident: loaded !== undefined,
          isIdle: () => actor.pending === 0,
          evict: () => stop(actor, "evicted")
        }
        if (actor.resident && !residency.admit(actor)) return undefined
        actors.set(entityId, actor)
        runDetached(runActor(actor))
        return actor
      })

    /**
     * Offering and passivating are each one synchronous step, so they cannot interleave: a command is
     * either in a live actor's count or finds no actor and starts a new one.
     */
    const offer = (
      actor: Actor<State, Command, Event, Err>,
      envelope: Envelope<State, Command, Event, Err>
    ) => {
      if (!Queue.offerUnsafe(actor.mailbox, envelope)) return false
      actor.pending++
      residency.touch(actor)
      return true
    }

    const passivateIdle = Effect.sync(() => {
      const now = clock.currentTimeMillisUnsafe()
      for (const actor of actors.values()) {
        if (actor.pending === 0 && now - actor.lastActiveMillis >= idleTtlMillis) stop(actor, "idle")
      }
    })

    // One sweeper per runtime instead of a timer per take: passivation happens between 1 and 1.25 TTLs.
    yield* Effect.forkScoped(
      Effect.forever(
        Effect.andThen(Effect.sleep(Duration.millis(Math.max(1, idleTtlMillis / 4))), passivateIdle),
        { disableYield: true }
      )
    )

    const deliver = (
      entityId: string,
      command: Option.Option<Command>,
      context: CommandContext | undefined
    ) =>
      Effect.gen(function* () {
        const reply = yield* Deferred.make<
          CommandResult<State, Event>,
          Err | VersionConflict | EventStoreError
        >()
        // Read from the context: `Effect.currentSpan` fails with an exception (a stack trace) per
        // untraced command.
        const envelope = {
          command,
          context,
          reply,
          parent: yield* Effect.serviceOption(Tracer.ParentSpan),
          tracing: yield* References.TracerEnabled
        }
        const warm = actors.get(entityId)
        const accepted = warm
          ? offer(warm, envelope)
          : yield* spawning.withPermits(1)(
              Effect.map(spawn(entityId), (actor) => actor !== undefined && offer(actor, envelope))
            )
        if (!accepted) {
          if (Option.isSome(command)) outcomes.overloaded++
          return yield* Effect.fail(
            new Overloaded({ entity: streamIdOf(decider, entityId), retryAfterSeconds })
          )
        }
        return yield* Deferred.await(reply)
      })

    const send: EntityRuntime<State, Command, Event, Err>["send"] = (entityId, command, context) =>
      Effect.suspend(() => {
        // It may write: once its actor is gone, a cold read must load the snapshot again.
        emptyStreams.delete(entityId)
        return deliver(entityId, Option.some(command), context)
      })

    // A read decides nothing, so only loading can fail it; the other errors of the reply cannot occur.
    const readThroughMailbox = (entityId: string) =>
      deliver(entityId, Option.none(), undefined).pipe(
        Effect.map(({ state, version }) => ({ state, version })),
        Effect.catch((error) =>
          error instanceof Overloaded || error instanceof EventStoreError
            ? Effect.fail(error)
            : Effect.die(error)
        )
      )

    /** Entity ids whose stream had no events when last read cold; bounded, forgotten all at once when full. */
    const emptyStreams = new Set<string>()
    const rememberEmpty = (entityId: string) => {
      if (emptyStreams.size >= MAX_REMEMBERED_EMPTY) emptyStreams.clear()
      emptyStreams.add(entityId)
    }

    /**
     * No actor in this process means no command of this process is in flight for the entity, so the
     * reader hydrates it itself, outside the actor map: an id without events costs no actor at all.
     * An entity that does exist is kept warm for what follows (when the ceiling has room), as a read
     * through a new actor would have. Should a command have started an actor meanwhile, that actor is
     * kept; the state read here is still an answer as of the read, and a warm state that turns out
     * stale costs at most one `VersionConflict` retry.
     */
    const readCold = (entityId: string) => {
      const streamId = streamIdOf(decider, entityId)
      // A stream seen empty is most likely still empty: its tail from version 1 is read without asking
      // for a snapshot first (one query instead of two). Should it have grown meanwhile, even past a
      // snapshot, reading it from version 1 is still its whole state, only slower, once.
      const load = emptyStreams.has(entityId)
        ? catchUp(store, decider, streamId, { state: decider.initialState, version: 0 })
        : hydrate(store, decider, streamId)
      return load.pipe(
        Effect.tap((hydrated) => {
          if (hydrated.version === 0) {
            rememberEmpty(entityId)
            return Effect.void
          }
          emptyStreams.delete(entityId)
          return actors.has(entityId) ? Effect.void : spawning.withPermits(1)(spawn(entityId, hydrated))
        }),
        Effect.map(({ state, version }) => ({ state, version })),
        withSpan(`Actor.${decider.type}.read`, { attributes: { "actor.stream": streamId } })
      )
    }

    /**
     * An idle, loaded actor (nothing queued or being handled) is not asked: the reader folds the
     * store's tail onto the actor's last state itself, without the two fiber hand-offs of the mailbox.
     * Same answer: no command sent before this read is unanswered, and the tail read from the store sees
     * every write committed before it. The actor's state is only read (it is an immutable value the actor
     * replaces), so a command arriving meanwhile cannot be disturbed. A busy actor queues the read.
     */
    const read: EntityRuntime<State, Command, Event, Err>["read"] = (entityId) =>
      Effect.suspend(() => {
        const actor = actors.get(entityId)
        if (actor === undefined) return readCold(entityId)
        if (actor.pending > 0 || !actor.entity.loaded || actor.entity.stale) {
          return readThroughMailbox(entityId)
        }
        actor.lastActiveMillis = clock.currentTimeMillisUnsafe()
        residency.touch(actor)
        const streamId = streamIdOf(decider, entityId)
        const { state, version } = actor.entity
        return catchUp(store, decider, streamId, { state, version }).pipe(
          Effect.map((caughtUp) => ({ state: caughtUp.state, version: caughtUp.version })),
          withSpan(`Actor.${decider.type}.read`, { attributes: { "actor.stream": streamId } })
        )
      })

    const stats = Effect.sync(() => {
      let mailboxDepth = 0
      for (const actor of actors.values()) {
        mailboxDepth += Queue.sizeUnsafe(actor.mailbox)
      }
      return {
        type: decider.type,
        liveActors: actors.size,
        mailboxDepth,
        conflictRetries,
        outcomes: { ...outcomes }
      }
    })

    const passivations = Effect.sync(() => ({ ...passivated }))

    return { type: decider.type, send, read, stats, passivations }
  })
