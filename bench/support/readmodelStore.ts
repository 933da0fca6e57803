/**
 * Generates the event store bench/readmodels.ts restarts servers on: a SQLite file written through the
 * store's own `append` (src/layers/eventstore/EventStoreSqlite.ts, group commit and all), with events decided by
 * the domain's deciders and encoded with their schemas, exactly as the entity runtime would write them
 * (stream `${decider.type}-${id}`, type from the encoded `_tag`, metadata `{ timestamp }`). Content per
 * user (about 100 events): tasks with blocks started and completed (some left pending, some deleted),
 * the wallet credits each completion implies (decided by the wallet from `creditFor`, bonuses included),
 * mood entries, and planner actions planned, claimed and completed (or pending far in the future, so no
 * planner tick runs them during a measurement).
 *
 * One user, `knownUser`, owns a fixed number of tasks and actions; it is an account registered by the
 * caller (through the HTTP API) before generation, so the benchmark can log in as it.
 *
 * Not a benchmark itself (`bench/run.ts` only runs the `.ts` files directly in `bench/`).
 */
import { Effect, Result, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { mulberry32 } from "./prng.ts"
import type { Decider } from "../../src/domain/Decider.ts"
import { BlockId, MoodEntryId, TaskId, UserId } from "../../src/domain/ids.ts"
import { LogMood, MoodDecider } from "../../src/domain/mood.ts"
import { type ActionCommand, ActionDecider } from "../../src/domain/planner.ts"
import { heuristicBreakdown } from "../../src/domain/rules.ts"
import {
  type BlockCompleted,
  CompleteBlock,
  CreateTask,
  DeleteTask,
  StartBlock,
  TaskDecider
} from "../../src/domain/task.ts"
import { creditFor, WalletDecider } from "../../src/domain/wallet.ts"
import type { NewEvent } from "../../src/eventsourcing/EventStore.ts"
import { makeSqliteEventStore } from "../../src/layers/eventstore/EventStoreSqlite.ts"
import { LEGACY_CHECKPOINT_STREAM } from "../../src/programs/blockCredits.ts"

export interface GenerateOptions {
  /** The SQLite file (DATA_DIR/focusforge.db); may already hold the known user's account. */
  readonly filename: string
  /** Events to write at least (the last user is completed, so a few more are written). */
  readonly events: number
  readonly knownUserId: string
  /** Tasks and planner actions of the known user (its listing's content). */
  readonly knownTasks?: number
  readonly knownActions?: number
  /** Users generated concurrently: their appends interleave in the log, as concurrent requests' do. */
  readonly concurrentUsers?: number
  readonly seed?: number
  readonly onProgress?: (written: number) => void
}

export interface GeneratedStore {
  readonly events: number
  readonly users: number
  readonly streams: number
  readonly tasks: number
  readonly actions: number
  /** The known user's live (not deleted) tasks and its planner actions: what its listings answer. */
  readonly knownUser: { readonly id: string; readonly tasks: number; readonly actions: number }
  /** Global position of the last event written (the block-credit checkpoint is saved there). */
  readonly head: number
  readonly generationMs: number
}

interface Append {
  readonly streamId: string
  readonly expected: number
  readonly events: ReadonlyArray<NewEvent>
}

const encodedTag = (encoded: unknown): string | undefined =>
  typeof encoded === "object" && encoded !== null && "_tag" in encoded && typeof encoded._tag === "string"
    ? encoded._tag
    : undefined

/**
 * One entity, commanded in memory: each command is decided on the state so far and becomes one append
 * at the version it was decided on, as the entity runtime appends it.
 */
const entity = <State, Command, Event, Err>(
  decider: Decider<State, Command, Event, Err>,
  id: string,
  out: Array<Append>
) => {
  const encode = Schema.encodeSync(decider.event)
  let state = decider.initialState
  let version = 0
  return {
    send: (command: Command, at: Date): ReadonlyArray<Event> => {
      const decided = decider.decide(state, command)
      if (Result.isFailure(decided)) throw new Error(`${decider.type}-${id}: ${String(decided.failure)}`)
      const events = decided.success
      if (events.length === 0) return events
      const metadata = { timestamp: at.toISOString() }
      out.push({
        streamId: `${decider.type}-${id}`,
        expected: version,
        events: events.map((event) => {
          const data = encode(event)
          return {
            eventId: randomUUID(),
            type: decider.eventType?.(event) ?? encodedTag(data) ?? decider.type,
            data,
            metadata
          }
        })
      })
      state = events.reduce(decider.evolve, state)
      version += events.length
      return events
    }
  }
}

const DAY = 86_400_000
const MINUTE = 60_000
const TITLES = ["Write report", "Review pull request", "Study chapter", "Plan sprint", "Refactor module"]
const ACTION_TYPES = ["send_motivation", "review_progress"]

interface UserPlan {
  readonly appends: ReadonlyArray<Append>
  readonly events: number
  readonly tasks: number
  readonly liveTasks: number
  readonly actions: number
  readonly streams: number
}

/** A user's history, oldest first: tasks with their wallet credits, moods, planner actions. */
const userHistory = (
  userId: string,
  random: () => number,
  now: number,
  sizes: { readonly tasks: number; readonly moods: number; readonly actions: number }
): UserPlan => {
  const appends: Array<Append> = []
  const user = UserId.make(userId)
  const wallet = entity(WalletDecider, userId, appends)
  const mood = entity(MoodDecider, userId, appends)
  let liveTasks = 0
  // Histories span the last 90 days; one task a day or so, blocks half an hour apart.
  let t = now - 90 * DAY + Math.floor(random() * DAY)
  for (let i = 0; i < sizes.tasks; i++) {
    const taskId = TaskId.make(randomUUID())
    const task = entity(TaskDecider, taskId, appends)
    const duration = 25 + Math.floor(random() * 100)
    const title = `${TITLES[i % TITLES.length]} ${i + 1}`
    const blocks = heuristicBreakdown(duration).map((duration_minutes, b) => ({
      block_id: BlockId.make(randomUUID()),
      title: `${title} — block ${b + 1}`,
      duration_minutes
    }))
    const difficulty = (["low", "medium", "high"] as const)[Math.floor(random() * 3)]!
    task.send(
      CreateTask.make({
        task_id: taskId,
        user_id: user,
        title,
        description: "Generated by bench/readmodels.ts",
        duration_minutes: duration,
        difficulty,
        blocks,
        at: new Date(t)
      }),
      new Date(t)
    )
    // 60 % done, 20 % started (first block done), 15 % untouched, 5 % deleted.
    const fate = random()
    const worked = fate < 0.6 ? blocks.length : fate < 0.8 ? Math.min(1, blocks.length) : 0
    let at = t + 10 * MINUTE
    for (const block of blocks.slice(0, worked)) {
      task.send(
        StartBlock.make({ task_id: taskId, user_id: user, block_id: block.block_id, at: new Date(at) }),
        new Date(at)
      )
      at += block.duration_minutes * MINUTE
      const completed = task.send(
        CompleteBlock.make({
          task_id: taskId,
          user_id: user,
          block_id: block.block_id,
          effort_rating: 1 + Math.floor(random() * 10),
          at: new Date(at)
        }),
        new Date(at)
      )
      const done = completed.find((e): e is BlockCompleted => e._tag === "BlockCompleted")
      if (done !== undefined) wallet.send(creditFor(done), new Date(at))
      at += 5 * MINUTE
    }
    if (fate >= 0.95) {
      task.send(DeleteTask.make({ task_id: taskId, user_id: user, at: new Date(at) }), new Date(at))
    } else liveTasks++
    t += Math.floor((90 * DAY) / Math.max(1, sizes.tasks))
  }
  let moodAt = now - 60 * DAY
  for (let i = 0; i < sizes.moods; i++) {
    moodAt += Math.floor(random() * 5 * DAY)
    const level = () => 1 + Math.floor(random() * 10)
    mood.send(
      LogMood.make({
        entry_id: MoodEntryId.make(randomUUID()),
        user_id: user,
        score: level(),
        energy: level(),
        stress: level(),
        note: "bench",
        at: new Date(Math.min(moodAt, now))
      }),
      new Date(Math.min(moodAt, now))
    )
  }
  for (let i = 0; i < sizes.actions; i++) {
    const actionId = randomUUID()
    const action = entity(ActionDecider, actionId, appends)
    const at = now - Math.floor(random() * 60 * DAY)
    // A fifth still pending, due in 30 days: planned work no tick may run during a measurement.
    const later = random() < 0.2
    const plan: ActionCommand = {
      _tag: "Plan",
      action_id: actionId,
      user_id: userId,
      type: ACTION_TYPES[i % ACTION_TYPES.length]!,
      priority: (["critical", "high", "medium", "low"] as const)[i % 4]!,
      depends_on: [],
      scheduled_at: later ? now + 30 * DAY : at,
      payload: { challenge: "stay focused" },
      max_attempts: 3,
      at
    }
    action.send(plan, new Date(at))
    if (!later) {
      action.send({ _tag: "Claim", worker: "bench-worker", at: at + 1000 }, new Date(at + 1000))
      action.send({ _tag: "Complete", result: { message: "done" }, at: at + 2000 }, new Date(at + 2000))
    }
  }
  return {
    appends,
    events: appends.reduce((n, a) => n + a.events.length, 0),
    tasks: sizes.tasks,
    liveTasks,
    actions: sizes.actions,
    streams: new Set(appends.map((a) => a.streamId)).size
  }
}

/** Writes the store; the file is closed (its WAL checkpointed) when the answer comes. */
export const generateStore = (options: GenerateOptions): Promise<GeneratedStore> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const started = performance.now()
        const { store } = yield* makeSqliteEventStore({ filename: options.filename })
        const random = mulberry32(options.seed ?? 18)
        const now = Date.now()
        const concurrent = options.concurrentUsers ?? 200
        const knownTasks = options.knownTasks ?? 60
        const knownActions = options.knownActions ?? 12
        // The known user sits in the middle of the log (users average ~100 events), not at either end.
        const knownAt = Math.floor(options.events / 200)
        let written = 0
        let users = 0
        let streams = 0
        let tasks = 0
        let actions = 0
        let head = 0
        let known: GeneratedStore["knownUser"] | undefined
        while (written < options.events || known === undefined) {
          const batch: Array<UserPlan> = []
          let planned = written
          while (batch.length < concurrent && (planned < options.events || known === undefined)) {
            const isKnown = known === undefined && (users >= knownAt || planned >= options.events)
            const plan = isKnown
              ? userHistory(options.knownUserId, random, now, {
                  tasks: knownTasks,
                  moods: 10,
                  actions: knownActions
                })
              : userHistory(randomUUID(), random, now, {
                  tasks: 4 + Math.floor(random() * 5),
                  moods: 5 + Math.floor(random() * 10),
                  actions: 2 + Math.floor(random() * 4)
                })
            if (isKnown) known = { id: options.knownUserId, tasks: plan.liveTasks, actions: plan.actions }
            batch.push(plan)
            users++
            planned += plan.events
            streams += plan.streams
            tasks += plan.tasks
            actions += plan.actions
          }
          // Each user's appends in order (each waits for its group commit), the users side by side: the
          // store's group commit writes one append of each in the same transaction.
          yield* Effect.forEach(
            batch,
            (plan) =>
              Effect.forEach(
                plan.appends,
                (append) =>
                  Effect.map(store.append(append.streamId, append.expected, append.events), (result) => {
                    const last = result.events[result.events.length - 1]
                    if (last !== undefined && last.position > head) head = last.position
                  }),
                { discard: true }
              ),
            { concurrency: "unbounded", discard: true }
          )
          written = planned
          options.onProgress?.(written)
        }
        // A server that ran over this history would have moved the block-credit checkpoint to the head
        // (it runs every 2 s): a restart resumes there, it does not pay every block again.
        yield* store.saveSnapshot({
          streamId: LEGACY_CHECKPOINT_STREAM,
          version: head,
          state: { position: head }
        })
        return {
          events: written,
          users,
          streams,
          tasks,
          actions,
          knownUser: known!,
          head,
          generationMs: performance.now() - started
        } satisfies GeneratedStore
      })
    )
  )
