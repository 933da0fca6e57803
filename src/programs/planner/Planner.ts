import { Clock, Context, Effect, Layer, Result, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import {
  type ActionCommand,
  ActionDecider,
  ActionEvent,
  type ActionRejected,
  type ActionState,
  blockedForever,
  byPriority,
  CLAIM_LEASE_MS,
  isReady,
  MAX_ATTEMPTS,
  PlannedAction,
  type Priority
} from "../../domain/planner.ts"
import { type ActionRow, ReadModelStore, type RowWrite } from "../../eventsourcing/ReadModelStore.ts"
import {
  makeSubscription,
  type ReadModelBehind,
  type Subscription
} from "../../eventsourcing/Subscription.ts"
import {
  EventStore,
  type EventStoreError,
  type StoredEvent,
  type VersionConflict
} from "../../eventsourcing/EventStore.ts"
import { Overloaded } from "../../eventsourcing/EntityRuntime.ts"
import { withSpan } from "../../layers/observability/spans.ts"

export interface ActionSpec {
  /** Chosen by the caller so later specs of one batch can depend on earlier ones. */
  readonly action_id?: string
  readonly type: string
  readonly priority?: Priority
  readonly depends_on?: ReadonlyArray<string>
  /** Epoch millis; now when omitted. */
  readonly scheduled_at?: number
  readonly payload?: unknown
  readonly max_attempts?: number
}

/** A handler's failure: the attempt is retried with backoff, up to the action's attempts. */
export class ActionFailure extends Schema.TaggedError<ActionFailure>()("ActionFailure", {
  message: Schema.String
}) {}

export type ActionHandler = (action: PlannedAction) => Effect.Effect<unknown, ActionFailure>

export interface TickReport {
  readonly worker: string
  readonly claimed: number
  readonly completed: number
  readonly retried: number
  readonly failed: number
  readonly cancelled: number
  /** Claims lost to another worker. */
  readonly lost: number
}

export interface PlannerStats {
  readonly actions: number
  readonly by_status: Record<string, number>
  readonly ready: number
  readonly ticks: number
  readonly last_tick_at: string | null
  readonly handlers: ReadonlyArray<string>
}

export interface PlannerShape {
  readonly plan: (
    userId: string,
    specs: ReadonlyArray<ActionSpec>
  ) => Effect.Effect<ReadonlyArray<PlannedAction>>
  /** The user's actions, newest first (at most `ACTIONS_LIST_LIMIT`). */
  readonly actions: (userId: string) => Effect.Effect<ReadonlyArray<PlannedAction>, Overloaded>
  readonly handle: (type: string, handler: ActionHandler) => Effect.Effect<void>
  /**
   * Runs every ready action (of one user, when given) in priority order, until none is ready (or
   * `MAX_ROUNDS`); a round considers the `OPEN_ACTIONS_PER_ROUND` soonest due open actions.
   */
  readonly tick: (worker: string, options?: { readonly userId?: string }) => Effect.Effect<TickReport>
  readonly stats: Effect.Effect<PlannerStats>
  /** The subscription that keeps the planner's queue (`rm_actions`): run in the background by workers. */
  readonly subscription: Subscription
}

export class Planner extends Context.Service<Planner, PlannerShape>()("Planner") {}

const STREAM_PREFIX = `${ActionDecider.type}-`
const streamOf = (actionId: string) => `${STREAM_PREFIX}${actionId}`
const MAX_ROUNDS = 20

const encodeEvent = Schema.encodeSync(ActionEvent)
const decodeEvent = Schema.decodeUnknownSync(ActionEvent)

/**
 * Loads, decides and appends at the exact version it decided on: of two workers issuing the same
 * claim, the second append finds the stream moved and fails with `VersionConflict`.
 */
const command = (
  store: EventStore["Service"],
  actionId: string,
  cmd: ActionCommand
): Effect.Effect<ActionState, ActionRejected | VersionConflict | EventStoreError> =>
  Effect.gen(function* () {
    const stored = yield* Stream.runCollect(store.read(streamOf(actionId)))
    let state = ActionDecider.initialState
    let version = 0
    for (const event of stored) {
      state = ActionDecider.evolve(state, decodeEvent(event.data))
      version = event.version
    }
    const decided = ActionDecider.decide(state, cmd)
    if (Result.isFailure(decided)) return yield* decided.failure
    yield* store.append(
      streamOf(actionId),
      version,
      decided.success.map((event) => ({
        eventId: randomUUID(),
        type: event._tag,
        data: encodeEvent(event),
        metadata: { timestamp: new Date(cmd.at).toISOString() }
      }))
    )
    return decided.success.reduce(ActionDecider.evolve, state)
  })

/** `due_at` of an action's row: when a worker may next claim it (see `claimable`), null once done. */
const dueAt = (action: PlannedAction): number | null =>
  action.status === "pending"
    ? Math.max(action.scheduled_at, action.next_attempt_at)
    : action.status === "in_progress"
      ? (action.claimed_at ?? 0) + CLAIM_LEASE_MS
      : null

const rowOf = (action: PlannedAction, seq: number): ActionRow => ({
  action_id: action.action_id,
  user_id: action.user_id,
  status: action.status,
  due_at: dueAt(action),
  created_at: action.created_at,
  seq,
  // PlannedAction is JSON already: numbers, strings and the caller's JSON payload and result.
  state: action
})

const decodeAction = Schema.decodeUnknownSync(PlannedAction)

/** Folds a page of the log into the rows of the actions it touches. */
const foldPage = (readModels: ReadModelStore["Service"]) => (page: ReadonlyArray<StoredEvent>) =>
  Effect.gen(function* () {
    const events: Array<readonly [string, ActionEvent, number]> = []
    for (const stored of page) {
      if (stored.streamId.startsWith(STREAM_PREFIX))
        events.push([stored.streamId.slice(STREAM_PREFIX.length), decodeEvent(stored.data), stored.position])
    }
    if (events.length === 0) return []
    const ids = [...new Set(events.map(([id]) => id))]
    const actions = new Map<string, PlannedAction>()
    const seqs = new Map<string, number>()
    for (const row of yield* readModels.actions.byIds(ids)) {
      actions.set(row.action_id, decodeAction(row.state))
      seqs.set(row.action_id, row.seq)
    }
    for (const [id, event, position] of events) {
      const next = ActionDecider.evolve({ action: actions.get(id) ?? null }, event).action
      if (next !== null) actions.set(id, next)
      if (!seqs.has(id)) seqs.set(id, position)
    }
    return ids.flatMap((id): Array<RowWrite> => {
      const action = actions.get(id)
      return action === undefined ? [] : [{ table: "actions", row: rowOf(action, seqs.get(id) ?? 0) }]
    })
  })

/** Open actions a tick considers per round, soonest due first. */
const OPEN_ACTIONS_PER_ROUND = 500
/** A user's actions listed at most, newest first. */
const ACTIONS_LIST_LIMIT = 500

const behindAsOverloaded = (behind: ReadModelBehind) =>
  new Overloaded({ entity: `read model ${behind.subscription}`, retryAfterSeconds: behind.retryAfterSeconds })

export const makePlanner = Effect.gen(function* () {
  const store = yield* EventStore
  const readModels = yield* ReadModelStore
  const handlers = new Map<string, ActionHandler>()
  let ticks = 0
  let lastTickAt: number | null = null
  // The planner's queue: every action's row in `rm_actions`, kept by this subscription over the log.
  const subscription = yield* makeSubscription({
    name: "planner",
    // 2: rows carry `seq` (plan order breaks ties of `created_at`).
    version: 2,
    tables: ["actions"],
    streams: [STREAM_PREFIX],
    handle: foldPage(readModels)
  })
  const catchUp = Effect.mapError(subscription.catchUp, behindAsOverloaded)
  const actionsOf = (rows: ReadonlyArray<ActionRow>) => rows.map((row) => decodeAction(row.state))

  /** The open actions (of one user, when given) and every action they depend on, by id. */
  const openWithDependencies = (userId: string | undefined) =>
    Effect.gen(function* () {
      const open = actionsOf(yield* readModels.actions.open({ userId, limit: OPEN_ACTIONS_PER_ROUND }))
      const byId = new Map(open.map((a) => [a.action_id, a]))
      const missing = [...new Set(open.flatMap((a) => a.depends_on))].filter((id) => !byId.has(id))
      for (const dependency of actionsOf(yield* readModels.actions.byIds(missing)))
        byId.set(dependency.action_id, dependency)
      return { open, byId }
    }).pipe(Effect.orDie)

  const plan = (userId: string, specs: ReadonlyArray<ActionSpec>) =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const planned: Array<PlannedAction> = []
      for (const spec of specs) {
        const action_id = spec.action_id ?? randomUUID()
        const state = yield* command(store, action_id, {
          _tag: "Plan",
          action_id,
          user_id: userId,
          type: spec.type,
          priority: spec.priority ?? "medium",
          depends_on: spec.depends_on ?? [],
          scheduled_at: spec.scheduled_at ?? now,
          payload: spec.payload ?? null,
          max_attempts: spec.max_attempts ?? MAX_ATTEMPTS,
          at: now
        }).pipe(Effect.orDie)
        if (state.action !== null) planned.push(state.action)
      }
      return planned
    }).pipe(withSpan("Planner.plan"))

  const actions = (userId: string) =>
    Effect.andThen(catchUp, readModels.actions.ofUser(userId, ACTIONS_LIST_LIMIT).pipe(Effect.orDie)).pipe(
      Effect.map(actionsOf)
    )

  /** One action: claim it (or lose the race), run its handler, record the outcome. */
  const runOne = (
    worker: string,
    action: PlannedAction,
    report: Record<keyof Omit<TickReport, "worker">, number>
  ) =>
    Effect.gen(function* () {
      const claimedAt = yield* Clock.currentTimeMillis
      const claim = yield* Effect.result(
        command(store, action.action_id, { _tag: "Claim", worker, at: claimedAt })
      )
      if (Result.isFailure(claim)) {
        if (claim.failure._tag === "EventStoreError")
          yield* Effect.logWarning("planner claim failed", claim.failure)
        report.lost++
        return
      }
      const claimed = claim.success.action
      if (claimed === null || claimed.status !== "in_progress") {
        report.failed++
        return
      }
      report.claimed++
      const handler = handlers.get(claimed.type)
      const outcome = yield* Effect.result(
        handler === undefined
          ? Effect.fail(new ActionFailure({ message: `no handler for ${claimed.type}` }))
          : handler(claimed).pipe(
              Effect.catchDefect((defect) => Effect.fail(new ActionFailure({ message: String(defect) })))
            )
      )
      const at = yield* Clock.currentTimeMillis
      const next = yield* Effect.result(
        command(
          store,
          claimed.action_id,
          Result.isSuccess(outcome)
            ? { _tag: "Complete", result: outcome.success ?? null, at }
            : { _tag: "FailAttempt", error: outcome.failure.message, at }
        )
      )
      if (Result.isFailure(next)) {
        yield* Effect.logWarning("planner outcome not recorded", next.failure)
        return
      }
      const status = next.success.action?.status
      if (status === "completed") report.completed++
      else if (status === "failed") report.failed++
      else report.retried++
    }).pipe(
      withSpan("Planner.run", {
        attributes: { "action.type": action.type, "action.id": action.action_id }
      })
    )

  /**
   * One round: cancel what can never run, then run what is ready, most important first. Traced only
   * when it has work: an idle planner, ticked every few seconds, exports no spans.
   */
  const round = (
    worker: string,
    userId: string | undefined,
    report: Record<keyof Omit<TickReport, "worker">, number>
  ) =>
    Effect.gen(function* () {
      yield* catchUp
      const now = yield* Clock.currentTimeMillis
      const { open, byId } = yield* openWithDependencies(userId)
      const blocked = open.flatMap((action) => {
        const reason = blockedForever(action, byId)
        return reason === undefined ? [] : [{ action, reason }]
      })
      const ready = open.filter((a) => isReady(a, byId, now)).sort(byPriority)
      if (blocked.length === 0 && ready.length === 0) return false
      return yield* Effect.gen(function* () {
        let progressed = false
        for (const { action, reason } of blocked) {
          const cancelled = yield* Effect.result(
            command(store, action.action_id, { _tag: "Cancel", reason, at: now })
          )
          if (Result.isSuccess(cancelled)) {
            report.cancelled++
            progressed = true
          }
        }
        for (const action of ready) {
          const before = report.claimed + report.lost
          yield* runOne(worker, action, report)
          if (report.claimed + report.lost > before) progressed = true
        }
        return progressed
      }).pipe(withSpan("Planner.tick", { attributes: { worker, "planner.ready": ready.length } }))
    })

  const tick = (worker: string, options: { readonly userId?: string } = {}) =>
    Effect.gen(function* () {
      const report = { claimed: 0, completed: 0, retried: 0, failed: 0, cancelled: 0, lost: 0 }
      for (let n = 0; n < MAX_ROUNDS; n++) {
        const progressed = yield* round(worker, options.userId, report).pipe(
          Effect.catchTag("Overloaded", (behind) =>
            Effect.logWarning("planner tick skipped: its queue is behind the log").pipe(
              Effect.annotateLogs({ error: behind.message }),
              Effect.as(false)
            )
          )
        )
        if (!progressed) break
      }
      ticks++
      lastTickAt = yield* Clock.currentTimeMillis
      return { worker, ...report }
    })

  const stats = Effect.gen(function* () {
    // Introspection: a queue a little behind the log is still worth showing.
    yield* Effect.ignore(catchUp)
    const now = yield* Clock.currentTimeMillis
    const counts = yield* Effect.orDie(readModels.actions.counts)
    const by_status: Record<string, number> = {
      pending: counts.pending ?? 0,
      in_progress: counts.in_progress ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
      cancelled: counts.cancelled ?? 0
    }
    const { open, byId } = yield* openWithDependencies(undefined)
    return {
      actions: Object.values(by_status).reduce((a, b) => a + b, 0),
      by_status,
      ready: open.filter((a) => isReady(a, byId, now)).length,
      ticks,
      last_tick_at: lastTickAt === null ? null : new Date(lastTickAt).toISOString(),
      handlers: [...handlers.keys()].sort()
    }
  })

  return {
    plan,
    actions,
    handle: (type, handler) => Effect.sync(() => void handlers.set(type, handler)),
    tick,
    stats,
    subscription
  } satisfies PlannerShape
})

export const PlannerLive = Layer.effect(Planner, makePlanner)
