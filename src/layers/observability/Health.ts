import { Clock, Context, Duration, Effect, Layer, Option, Ref, Schema } from "effect"
import packageJson from "../../../package.json" with { type: "json" }

export const ComponentStatus = Schema.Literals(["healthy", "degraded", "unhealthy"])
export type ComponentStatus = typeof ComponentStatus.Type

export const ComponentHealth = Schema.Struct({
  status: ComponentStatus,
  /** An unhealthy critical component makes the whole service unhealthy; any other one only degrades it. */
  critical: Schema.Boolean,
  message: Schema.optional(Schema.String),
  details: Schema.optional(Schema.Record(Schema.String, Schema.Unknown))
}).annotate({ identifier: "ComponentHealth" })
export type ComponentHealth = typeof ComponentHealth.Type

export const HealthReport = Schema.Struct({
  status: ComponentStatus,
  version: Schema.String,
  uptime_seconds: Schema.Number,
  checked_at: Schema.String,
  components: Schema.Record(Schema.String, ComponentHealth)
}).annotate({ identifier: "HealthReport" })
export type HealthReport = typeof HealthReport.Type

export type HealthCheck = Effect.Effect<Omit<ComponentHealth, "critical">>

interface Registered {
  readonly critical: boolean
  readonly check: HealthCheck
}

const CHECK_TIMEOUT = Duration.seconds(2)
const startedAt = Date.now()
export const appVersion: string = packageJson.version

export const overallStatus = (components: Iterable<ComponentHealth>): ComponentStatus => {
  let status: ComponentStatus = "healthy"
  for (const component of components) {
    if (component.status === "unhealthy" && component.critical) return "unhealthy"
    if (component.status !== "healthy") status = "degraded"
  }
  return status
}

/**
 * Every infrastructure layer registers its own check here while it is alive, so `/health` lists exactly
 * the components this process runs. Checks run concurrently, each bounded by a timeout: a hung
 * dependency is reported unhealthy instead of hanging the probe.
 */
export class Health extends Context.Service<Health>()("Health", {
  make: Effect.gen(function* () {
    const checks = yield* Ref.make(new Map<string, Registered>())
    const draining = yield* Ref.make(false)

    const register = (name: string, check: HealthCheck, options: { readonly critical: boolean }) =>
      Effect.acquireRelease(
        Ref.update(checks, (map) => new Map(map).set(name, { critical: options.critical, check })),
        () =>
          Ref.update(checks, (map) => {
            const next = new Map(map)
            next.delete(name)
            return next
          })
      )

    const runCheck = ({ critical, check }: Registered): Effect.Effect<ComponentHealth> =>
      check.pipe(
        Effect.timeoutOption(CHECK_TIMEOUT),
        Effect.map(
          Option.match({
            onNone: (): ComponentHealth => ({
              status: "unhealthy",
              critical,
              message: "health check timed out"
            }),
            onSome: (result): ComponentHealth => ({ ...result, critical })
          })
        ),
        Effect.catchCause(() =>
          Effect.succeed<ComponentHealth>({ status: "unhealthy", critical, message: "health check failed" })
        )
      )

    const report = Effect.gen(function* () {
      const registered = yield* Ref.get(checks)
      const results = yield* Effect.forEach(
        registered,
        ([name, entry]) => Effect.map(runCheck(entry), (health) => [name, health] as const),
        { concurrency: "unbounded" }
      )
      const components = Object.fromEntries(results)
      const now = yield* Clock.currentTimeMillis
      return {
        status: overallStatus(Object.values(components)),
        version: appVersion,
        uptime_seconds: Math.round((now - startedAt) / 1000),
        checked_at: new Date(now).toISOString(),
        components
      } satisfies HealthReport
    })

    return {
      register,
      report,
      /** Set when shutdown begins, so load balancers stop routing here before the listener closes. */
      beginDrain: Ref.set(draining, true),
      isDraining: Ref.get(draining)
    } as const
  })
}) {
  static readonly layer = Layer.effect(this, this.make)
}
