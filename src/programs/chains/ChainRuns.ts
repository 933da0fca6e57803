import { Schema, Struct } from "effect"

/**
 * A chain run as events on its own stream `chainrun-<run_id>`: written by the executor, read back to
 * inspect a run from any instance. `started` is appended when the run begins (so a run in flight is
 * visible), its steps and its end in one batch when it ends.
 */

export const RunSource = Schema.Literals(["llm", "heuristic"])
export type RunSource = typeof RunSource.Type

/** Where one step's result came from: the model now, the cache (an earlier model answer), or a heuristic. */
export const StepSource = Schema.Literals(["model", "cache", "heuristic"])
export type StepSource = typeof StepSource.Type

export const ChainRunStarted = Schema.TaggedStruct("ChainRunStarted", {
  run_id: Schema.String,
  chain: Schema.String,
  version: Schema.Number,
  user_id: Schema.NullOr(Schema.String),
  at: Schema.String
})

export const ChainStepCompleted = Schema.TaggedStruct("ChainStepCompleted", {
  step: Schema.String,
  version: Schema.Number,
  source: StepSource,
  duration_ms: Schema.Number,
  /** Why the model path was not used, when the step fell back. */
  error: Schema.NullOr(Schema.String)
})
export type ChainStepCompleted = typeof ChainStepCompleted.Type

export const ChainRunFinished = Schema.TaggedStruct("ChainRunFinished", {
  source: RunSource,
  cached: Schema.Boolean,
  duration_ms: Schema.Number,
  at: Schema.String
})

export const ChainRunFailed = Schema.TaggedStruct("ChainRunFailed", {
  error: Schema.String,
  duration_ms: Schema.Number,
  at: Schema.String
})

export const ChainRunEvent = Schema.Union([
  ChainRunStarted,
  ChainStepCompleted,
  ChainRunFinished,
  ChainRunFailed
])
export type ChainRunEvent = typeof ChainRunEvent.Type

export const ChainRunStatus = Schema.Literals(["running", "completed", "failed"])

export const ChainRunView = Schema.Struct({
  run_id: Schema.String,
  chain: Schema.String,
  version: Schema.Number,
  user_id: Schema.NullOr(Schema.String),
  status: ChainRunStatus,
  source: Schema.NullOr(RunSource),
  cached: Schema.Boolean,
  started_at: Schema.String,
  duration_ms: Schema.NullOr(Schema.Number),
  error: Schema.NullOr(Schema.String),
  steps: Schema.Array(ChainStepCompleted.mapFields(Struct.omit(["_tag"])))
}).annotate({ identifier: "ChainRun" })
export type ChainRunView = typeof ChainRunView.Type

export const chainRunStream = (runId: string) => `chainrun-${runId}`

/** Folds a run's events into its view; `undefined` when the stream holds no run. */
export const foldRun = (events: ReadonlyArray<ChainRunEvent>): ChainRunView | undefined => {
  let view: ChainRunView | undefined
  for (const event of events) {
    switch (event._tag) {
      case "ChainRunStarted":
        view = {
          run_id: event.run_id,
          chain: event.chain,
          version: event.version,
          user_id: event.user_id,
          status: "running",
          source: null,
          cached: false,
          started_at: event.at,
          duration_ms: null,
          error: null,
          steps: []
        }
        break
      case "ChainStepCompleted":
        if (view) {
          const { _tag, ...step } = event
          view = { ...view, steps: [...view.steps, step] }
        }
        break
      case "ChainRunFinished":
        if (view)
          view = {
            ...view,
            status: "completed",
            source: event.source,
            cached: event.cached,
            duration_ms: event.duration_ms
          }
        break
      case "ChainRunFailed":
        if (view) view = { ...view, status: "failed", error: event.error, duration_ms: event.duration_ms }
        break
    }
  }
  return view
}
