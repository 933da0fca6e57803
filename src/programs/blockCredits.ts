import { Context, Duration, Effect, Layer, Option, Schema } from "effect"
import { TaskEvent } from "../domain/task.ts"
import { creditFor, WalletDecider } from "../domain/wallet.ts"
import { ReadModelStore } from "../eventsourcing/ReadModelStore.ts"
import { makeSubscription } from "../eventsourcing/Subscription.ts"
import { runInBackground } from "../eventsourcing/SubscriptionDaemon.ts"
import { EventStore, type StoredEvent } from "../eventsourcing/EventStore.ts"
import { logReleased } from "../layers/observability/Logging.ts"
import { Aggregates } from "./aggregates.ts"
import { TASK_STREAM_PREFIX } from "./taskReadModel.ts"

/**
 * Where builds before the subscription mechanism kept this process manager's checkpoint: as the
 * snapshot of a stream that has no events. A store written by one of them resumes from it.
 */
export const LEGACY_CHECKPOINT_STREAM = "checkpoint-block-credits"
const SUBSCRIPTION = "block-credits"
const VERSION = 1

const LegacyCheckpoint = Schema.Struct({ position: Schema.Natural })
const decodeLegacyCheckpoint = Schema.decodeUnknownOption(LegacyCheckpoint)
const decodeTaskEvent = Schema.decodeUnknownSync(TaskEvent)
/** The block a wallet's `TokensEarned` paid for. */
const decodePaid = Schema.decodeUnknownOption(
  Schema.Struct({ task_id: Schema.String, block_id: Schema.String })
)
const blockKey = (block: { readonly task_id: string; readonly block_id: string }) =>
  `${block.task_id}/${block.block_id}`

export interface CreditRun {
  /** Global position of the last event examined. */
  readonly position: number
  /** Blocks this run actually paid (the rest had been paid already). */
  readonly credited: number
}

/**
 * Block completion pays at least once, whatever crashes: this process manager, a subscription over the
 * global log, sends the wallet the `CreditBlock` each `BlockCompleted` implies, unless the wallet's
 * `TokensEarned` for that block is in the same page of the log (the request that completed the block
 * paid it: the usual case, which then costs no wallet command). The wallet pays each (task, block) once,
 * so a credit sent again (after a crash before the checkpoint moved, or by two instances racing on
 * one page) writes nothing: at-least-once delivery, exactly-once effect. A failed credit fails the page,
 * whose checkpoint then stays put for the next run.
 */
export class BlockCredits extends Context.Service<BlockCredits>()("BlockCredits", {
  make: Effect.gen(function* () {
    const store = yield* EventStore
    const readModels = yield* ReadModelStore
    const { wallets } = yield* Aggregates
    let credited = 0

    const handle = (page: ReadonlyArray<StoredEvent>) =>
      Effect.gen(function* () {
        const paid = new Set<string>()
        for (const stored of page) {
          if (stored.type !== "TokensEarned") continue
          const credit = decodePaid(stored.data)
          if (Option.isSome(credit)) paid.add(blockKey(credit.value))
        }
        let paidNow = 0
        for (const stored of page) {
          if (stored.type !== "BlockCompleted" || !stored.streamId.startsWith(TASK_STREAM_PREFIX)) continue
          const event = decodeTaskEvent(stored.data)
          if (event._tag !== "BlockCompleted" || paid.has(blockKey(event))) continue
          const result = yield* wallets.send(event.user_id, creditFor(event), { causationId: stored.eventId })
          if (result.events.length > 0) paidNow++
        }
        if (paidNow > 0) {
          credited += paidNow
          yield* Effect.logWarning("credited blocks whose completion had not been paid").pipe(
            Effect.annotateLogs({ credited: paidNow })
          )
        }
        return []
      })

    // Resume where a build before subscriptions left off, once: its snapshot checkpoint becomes ours.
    if (Option.isNone(yield* readModels.checkpoint(SUBSCRIPTION))) {
      const legacy = Option.flatMap(yield* store.loadSnapshot(LEGACY_CHECKPOINT_STREAM), (s) =>
        decodeLegacyCheckpoint(s.state)
      )
      if (Option.isSome(legacy) && legacy.value.position > 0) {
        yield* readModels
          .commit(SUBSCRIPTION, VERSION, 0, legacy.value.position, [])
          .pipe(Effect.catchTag("CheckpointMoved", () => Effect.void))
      }
    }

    const subscription = yield* makeSubscription({
      name: SUBSCRIPTION,
      version: VERSION,
      tables: [],
      // Completions, and the wallets' payments that make a second credit unnecessary.
      streams: [TASK_STREAM_PREFIX, `${WalletDecider.type}-`],
      handle
    })

    /** Folds the log up to its head now (the background loop runs the subscription itself). */
    const runOnce: Effect.Effect<CreditRun> = Effect.suspend(() => {
      const before = credited
      return subscription.run.pipe(
        Effect.map((run) => ({ position: run.position, credited: credited - before })),
        Effect.catch((error) =>
          Effect.logWarning("block credits paused; retrying on the next run").pipe(
            Effect.annotateLogs({ error: error.message }),
            Effect.as({ position: 0, credited: credited - before })
          )
        )
      )
    })

    return { runOnce, subscription } as const
  })
}) {
  /** Dependencies (EventStore, ReadModelStore, Aggregates) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}

/** How often a process running the process manager looks for unpaid completions. */
export const BLOCK_CREDITS_INTERVAL = Duration.seconds(2)

/** Runs the process manager in the background for as long as the layer lives. */
export const BlockCreditsDaemon = Layer.effectDiscard(
  Effect.gen(function* () {
    const { subscription } = yield* BlockCredits
    yield* logReleased("block-credits")
    yield* runInBackground(subscription, { interval: BLOCK_CREDITS_INTERVAL })
  })
)
