import { Context, Duration, Effect, Layer, Option, Schema, Semaphore, Stream } from "effect"
import { TaskEvent } from "../domain/task.ts"
import { creditFor } from "../domain/wallet.ts"
import { EventStore } from "../layers/EventStore.ts"
import { logReleased } from "../layers/Logging.ts"
import { Aggregates } from "./Aggregates.ts"

/**
 * Where the process manager's checkpoint is kept: as the snapshot of a stream that has no events. The
 * snapshot store keeps the highest version per stream and ignores older ones, which is exactly a
 * monotonic checkpoint, and it exists in every store implementation.
 */
export const CHECKPOINT_STREAM = "checkpoint-block-credits"
const Checkpoint = Schema.Struct({ position: Schema.Natural })
const decodeCheckpoint = Schema.decodeUnknownOption(Checkpoint)
const decodeTaskEvent = Schema.decodeUnknownEffect(TaskEvent)
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
 * Block completion pays at least once, whatever crashes: this process manager reads the
 * `BlockCompleted` events from `readAll` after its checkpoint and sends the wallet the `CreditBlock`
 * each one implies, unless the wallet's `TokensEarned` for that block is in the same page of the log
 * (the request that completed the block paid it: the usual case, which then costs no wallet command).
 * The wallet pays each (task, block) once, so a credit sent for a block paid after the page was read
 * writes nothing. The checkpoint only advances past
 * events whose credit was answered, so a failure is retried on the next run.
 */
export class BlockCredits extends Context.Service<BlockCredits>()("BlockCredits", {
  make: Effect.gen(function* () {
    const store = yield* EventStore
    const { wallets } = yield* Aggregates
    const lock = yield* Semaphore.make(1)

    const runOnce: Effect.Effect<CreditRun> = lock.withPermits(1)(
      Effect.gen(function* () {
        const snapshot = yield* store.loadSnapshot(CHECKPOINT_STREAM)
        const start = Option.getOrElse(
          Option.flatMap(snapshot, (s) => Option.map(decodeCheckpoint(s.state), (c) => c.position)),
          () => 0
        )
        let position = start
        let credited = 0
        const failure = yield* store.readAll({ fromPosition: start + 1 }).pipe(
          // One array per page of the log (`Stream.paginate` emits each page whole).
          Stream.runForEachArray((events) =>
            Effect.gen(function* () {
              // The request that completed a block normally paid it a moment later: its `TokensEarned`
              // is then in the same page of the log, and that block needs no second credit.
              const paid = new Set<string>()
              for (const stored of events) {
                if (stored.type !== "TokensEarned") continue
                const credit = decodePaid(stored.data)
                if (Option.isSome(credit)) paid.add(blockKey(credit.value))
              }
              for (const stored of events) {
                if (stored.type === "BlockCompleted" && stored.streamId.startsWith("task-")) {
                  const event = yield* Effect.orDie(decodeTaskEvent(stored.data))
                  if (event._tag === "BlockCompleted" && !paid.has(blockKey(event))) {
                    const result = yield* wallets.send(event.user_id, creditFor(event), {
                      causationId: stored.eventId
                    })
                    if (result.events.length > 0) credited++
                  }
                }
                position = stored.position
              }
            })
          ),
          Effect.flip,
          Effect.option
        )
        if (position > start) {
          yield* store.saveSnapshot({ streamId: CHECKPOINT_STREAM, version: position, state: { position } })
        }
        if (Option.isSome(failure)) {
          yield* Effect.logWarning("block credits paused; retrying on the next run").pipe(
            Effect.annotateLogs({ position, error: failure.value.message })
          )
        }
        if (credited > 0) {
          yield* Effect.logWarning("credited blocks whose completion had not been paid").pipe(
            Effect.annotateLogs({ credited })
          )
        }
        return { position, credited }
      }).pipe(
        Effect.catch((error) =>
          Effect.logWarning("block credits could not run").pipe(
            Effect.annotateLogs({ error: error.message }),
            Effect.as({ position: 0, credited: 0 })
          )
        )
      )
    )

    return { runOnce } as const
  })
}) {
  /** Dependencies (EventStore, Aggregates) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}

/** How often the embedded server looks for unpaid completions. */
export const BLOCK_CREDITS_INTERVAL = Duration.seconds(2)

/** Runs the process manager in the background for as long as the layer lives. */
export const BlockCreditsDaemon = Layer.effectDiscard(
  Effect.gen(function* () {
    const credits = yield* BlockCredits
    yield* logReleased("block-credits")
    yield* Effect.forkScoped(
      Effect.forever(Effect.andThen(credits.runOnce, Effect.sleep(BLOCK_CREDITS_INTERVAL)))
    )
  })
)
