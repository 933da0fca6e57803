import { Clock, Context, Effect, Layer } from "effect"
import { AccountDecider, EmailClaimDecider } from "../domain/account.ts"
import { MoodDecider } from "../domain/mood.ts"
import { TaskDecider } from "../domain/task.ts"
import { TaskQuotaDecider } from "../domain/taskQuota.ts"
import { WalletDecider } from "../domain/wallet.ts"
import { EventStoreError, VersionConflict } from "../eventsourcing/EventStore.ts"
import { ActorSystem } from "../eventsourcing/ActorSystem.ts"

/**
 * The entity runtimes of the product's aggregates, registered once per process (the actor system
 * refuses a second registration: two runtimes would be two writers per entity). Every program sends
 * its commands and reads its state through these.
 */
export class Aggregates extends Context.Service<Aggregates>()("Aggregates", {
  make: Effect.gen(function* () {
    const system = yield* ActorSystem
    return {
      accounts: yield* system.register(AccountDecider),
      emails: yield* system.register(EmailClaimDecider),
      tasks: yield* system.register(TaskDecider),
      wallets: yield* system.register(WalletDecider),
      moods: yield* system.register(MoodDecider),
      /** Per user: the open-task cap, `MAX_OPEN_TASKS` (`taskQuota.ts`). */
      taskQuotas: yield* system.register(TaskQuotaDecider)
    } as const
  })
}) {
  /** Dependencies (ActorSystem) come from the caller's layer graph. */
  static readonly layer = Layer.effect(this, this.make)
}

/** The email claim's entity id: the normalised address, base64url-encoded to stay key-safe. */
export const emailEntityId = (email: string): string => Buffer.from(email, "utf8").toString("base64url")

/**
 * A lost optimistic-concurrency race that survived the actor's bounded retries, or a store that cannot
 * answer, is an infrastructure failure: a defect for the caller (500, logged), not a domain answer.
 * `Overloaded` stays typed: it is the client's cue to come back later (503 + Retry-After).
 */
export const storeFailuresAsDefects = <A, E, R>(
  self: Effect.Effect<A, E | VersionConflict | EventStoreError, R>
): Effect.Effect<A, Exclude<E, VersionConflict | EventStoreError>, R> =>
  Effect.catchIf(
    self,
    (error): error is VersionConflict | EventStoreError =>
      error instanceof VersionConflict || error instanceof EventStoreError,
    (error) => Effect.die(error),
    // Given explicitly so the remaining error type is exactly the `Exclude` above.
    (error) => Effect.fail(error)
  )

/** The instant a command is decided at, from the Clock so tests can move it. */
export const now = Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

/**
 * A decider's error type covers all its commands; a given command can fail only with some of them.
 * The rest would be a bug, so they become defects and the program's type says what can really happen.
 */
export const failsOnlyWith =
  <const Tags extends ReadonlyArray<string>>(...tags: Tags) =>
  <A, E extends { readonly _tag: string }, R>(
    self: Effect.Effect<A, E, R>
  ): Effect.Effect<A, Exclude<E, Exclude<E, { readonly _tag: Tags[number] }>>, R> =>
    Effect.catchIf(
      self,
      (error): error is Exclude<E, { readonly _tag: Tags[number] }> => !tags.includes(error._tag),
      (error) => Effect.die(error),
      (error) => Effect.fail(error)
    )
