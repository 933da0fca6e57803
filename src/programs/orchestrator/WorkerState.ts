import { Config, Context, Effect, Layer, Option, Ref } from "effect"
import { AppConfig, literalSetting, readSetting } from "../../layers/config/AppConfig.ts"

export interface WorkerStatus {
  /** `embedded`: this process runs the background jobs itself; `external`: a worker process does. */
  readonly mode: "embedded" | "external" | "worker"
  readonly running: boolean
  readonly ticks: number
  readonly last_tick_at: string | null
  readonly last_error: string | null
}

/** What the background loop of this process is doing, for `/orchestrator/status`. */
export class WorkerState extends Context.Service<
  WorkerState,
  {
    readonly get: Effect.Effect<WorkerStatus>
    readonly update: (f: (status: WorkerStatus) => WorkerStatus) => Effect.Effect<void>
  }
>()("WorkerState") {}

export const makeWorkerStateLayer = (mode: WorkerStatus["mode"]) =>
  Layer.effect(
    WorkerState,
    Effect.map(
      Ref.make<WorkerStatus>({ mode, running: false, ticks: 0, last_tick_at: null, last_error: null }),
      (ref) => ({ get: Ref.get(ref), update: (f) => Ref.update(ref, f) })
    )
  )

/**
 * Whether the server process runs the background jobs (planner tick, memory expiry) itself:
 * `BACKGROUND_JOBS=embedded` or `worker` decides; unset, it follows `APP_MODE` (embedded: one process,
 * so nobody else would run them).
 */
export const backgroundJobsInServer = Effect.gen(function* () {
  const config = yield* AppConfig
  // A bad value stops start-up with the one-line message every setting has, not a defect's trace.
  const setting = yield* readSetting(Config.option(literalSetting("BACKGROUND_JOBS", ["embedded", "worker"])))
  return Option.match(setting, {
    onNone: () => config.mode === "embedded",
    onSome: (value) => value === "embedded"
  })
})

export const WorkerStateLive = makeWorkerStateLayer("external")
