import { Duration, Effect } from "effect"
import { Health } from "../layers/observability/Health.ts"
import { Metrics } from "../layers/observability/Metrics.ts"
import type { Subscription } from "./Subscription.ts"

/** The longest pause between two runs after repeated failures. */
const MAX_BACKOFF = Duration.seconds(30)

/**
 * Runs a subscription in the background for as long as the caller's scope lives: a run to the log's
 * head, then a pause of `interval`, forever; a failed run is logged and retried after a pause that doubles with each failure in a row.
 *
 * Until its first run has reached the head, the subscription's health check is unhealthy and critical,
 * so `/health/ready` keeps a new instance out of the load balancer while a read model is first built
 * (or rebuilt after its fold changed). Its lag (head − checkpoint) is a metric and in `/health`.
 */
export const runInBackground = <E>(
  subscription: Subscription<E>,
  options: { readonly interval: Duration.Input }
) =>
  Effect.gen(function* () {
    const health = yield* Health
    const metrics = yield* Metrics
    metrics.subscriptions.known(subscription.name)
    let caughtUp = false
    let lastError: string | undefined
    let failures = 0

    yield* health.register(
      `subscription:${subscription.name}`,
      Effect.map(
        Effect.orElseSucceed(subscription.lag, () => -1),
        (lag) => ({
          status: !caughtUp ? "unhealthy" : lastError === undefined ? "healthy" : "degraded",
          ...(caughtUp ? {} : { message: "first catch-up with the event log running" }),
          ...(caughtUp && lastError !== undefined ? { message: `last run failed: ${lastError}` } : {}),
          details: { lag_events: lag }
        })
      ),
      { critical: true }
    )

    const once = subscription.run.pipe(
      Effect.tap((run) =>
        Effect.sync(() => {
          caughtUp = true
          lastError = undefined
          failures = 0
          metrics.subscriptions.folded(subscription.name, run.folded)
        })
      ),
      Effect.andThen(subscription.lag),
      Effect.tap((lag) => Effect.sync(() => metrics.subscriptions.setLag(subscription.name, lag))),
      Effect.catch((error) => {
        failures++
        lastError = error instanceof Error ? error.message : String(error)
        return Effect.logWarning("subscription run failed; retrying").pipe(
          Effect.annotateLogs({ subscription: subscription.name, error: lastError })
        )
      }),
      Effect.catchDefect((defect) => {
        failures++
        lastError = String(defect)
        return Effect.logError("subscription run died; retrying").pipe(
          Effect.annotateLogs({ subscription: subscription.name, error: lastError })
        )
      })
    )
    // After failures the pause doubles, up to `MAX_BACKOFF`: a store that is down is not hammered.
    const pause = Effect.suspend(() =>
      Effect.sleep(
        Duration.min(
          Duration.times(Duration.fromInputUnsafe(options.interval), 2 ** Math.min(failures, 10)),
          MAX_BACKOFF
        )
      )
    )
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(once, pause)))
  })
