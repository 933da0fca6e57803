import { Clock, Context, Effect, Layer, Result, Schema, Semaphore, Stream } from "effect"
import { randomUUID } from "node:crypto"
import {
  type ActionCommand,
  ActionDecider,
  ActionEvent,
  type ActionRejected,
  type ActionState,
  blockedForever,
  byPriority,
  isReady,
  MAX_ATTEMPTS,
  type PlannedAction,
  type Priority
} from "../../domain/planner.ts"
import { EventStore, type EventStoreError, type VersionConflict } from "../../layers/EventStore.ts"
import { withSpan } from "../../layers/spans.ts"

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
  readonly actions: (userId: string) => Effect.Effect<ReadonlyArray<PlannedAction>>
  readonly handle: (type: string, handler: ActionHandler) => Effect.Effect<void>
  /** Runs every ready action (of one user, when given) in priority order, until none is ready. */
  readonly tick: (worker: string, options?: { readonly userId?: string }) => Effect.Effect<TickReport>
  readonly stats: Effect.Effect<PlannerStats>
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

export const makePlanner = Effect.gen(function* () {
  const store = yield* EventStore
  const handlers = new Map<string, ActionHandler>()
  // The process's view of every action, caught up from the global event order before each use.
  const index = new Map<string, PlannedAction>()
  let checkpoint = 0
  let ticks = 0
  let lastTickAt: number | null = null
  const catchUpLock = yield* Semaphore.make(1)

  const catchUp = catchUpLock.withPermits(1)(
    store.readAll({ fromPosition: checkpoint + 1 }).pipe(
      Stream.runForEach((stored) =>
        Effect.sync(() => {
          checkpoint = stored.position
          if (!stored.streamId.startsWith(STREAM_PREFIX)) return
          const actionId = stored.streamId.slice(STREAM_PREFIX.length)
          const current = index.get(actionId) ?? null
          const next = ActionDecider.evolve({ action: current }, decodeEvent(stored.data)).action
          if (next !== null) index.set(actionId, next)
        })
      ),
      Effect.orDie
    )
  )

  const remember = (state: ActionState) => {
    if (state.action !== null) index.set(state.action.action_id, state.action)
  }

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
        remember(state)
        if (state.action !== null) planned.push(state.action)
      }
      return planned
    }).pipe(withSpan("Planner.plan"))

  const actions = (userId: string) =>
    catchUp.pipe(
      Effect.map(() =>
        [...index.values()].filter((a) => a.user_id === userId).sort((a, b) => b.created_at - a.created_at)
      )
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
      remember(claim.success)
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
      remember(next.success)
      const status = next.success.action?.status
      if (status === "completed") report.completed++
      else if (status === "failed") report.failed++
      else report.retried++
    }).pipe(
      withSpan("Planner.run", {
        attributes: { "action.type": action.type, "action.id": action.action_id }
      })
    )

  const tick = (worker: string, options: { readonly userId?: string } = {}) =>
    Effect.gen(function* () {
      const report = { claimed: 0, completed: 0, retried: 0, failed: 0, cancelled: 0, lost: 0 }
      const mine = (a: PlannedAction) => options.userId === undefined || a.user_id === options.userId
      for (let round = 0; round < MAX_ROUNDS; round++) {
        yield* catchUp
        const now = yield* Clock.currentTimeMillis
        let progressed = false
        // Cancel what can never run, then run what is ready, most important first.
        for (const action of [...index.values()].filter(mine)) {
          const reason = blockedForever(action, index)
          if (reason === undefined) continue
          const cancelled = yield* Effect.result(
            command(store, action.action_id, { _tag: "Cancel", reason, at: now })
          )
          if (Result.isSuccess(cancelled)) {
            remember(cancelled.success)
            report.cancelled++
            progressed = true
          }
        }
        const ready = [...index.values()].filter((a) => mine(a) && isReady(a, index, now)).sort(byPriority)
        for (const action of ready) {
          const before = report.claimed + report.lost
          yield* runOne(worker, action, report)
          if (report.claimed + report.lost > before) progressed = true
        }
        if (!progressed) break
      }
      ticks++
      lastTickAt = yield* Clock.currentTimeMillis
      return { worker, ...report }
    }).pipe(withSpan("Planner.tick", { attributes: { worker } }))

  const stats = Effect.gen(function* () {
    yield* catchUp
    const now = yield* Clock.currentTimeMillis
    const by_status: Record<string, number> = {
      pending: 0,
      in_progress: 0,
      completed: 0,
      failed: 0,
      cancelled: 0
    }
    let ready = 0
    for (const action of index.values()) {
      by_status[action.status] = (by_status[action.status] ?? 0) + 1
      if (isReady(action, index, now)) ready++
    }
    return {
      actions: index.size,
      by_status,
      ready,
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
    stats
  } satisfies PlannerShape
})

export const PlannerLive = Layer.effect(Planner, makePlanner)
