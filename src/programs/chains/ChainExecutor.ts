import { Clock, Context, Effect, Layer, Option, Ref, Result, Schema, Stream } from "effect"
import { createHash, randomUUID } from "node:crypto"
import { Cache } from "../../layers/cache/Cache.ts"
import { EventStore } from "../../eventsourcing/EventStore.ts"
import { LanguageModel } from "../../layers/ai/LanguageModel.ts"
import { Metrics } from "../../layers/observability/Metrics.ts"
import { type Chain, type Step, type StepError, StepFailed, type StepRunner } from "./Chain.ts"
import {
  ChainRunEvent,
  type ChainRunView,
  type ChainStepCompleted,
  chainRunStream,
  foldRun,
  type RunSource,
  type StepSource
} from "./ChainRuns.ts"
import { withSpan } from "../../layers/observability/spans.ts"

export class ChainNotFound extends Schema.TaggedError<ChainNotFound>()("ChainNotFound", {
  chain: Schema.String
}) {
  override get message(): string {
    return `no chain named ${this.chain}`
  }
}

export class ChainInputInvalid extends Schema.TaggedError<ChainInputInvalid>()("ChainInputInvalid", {
  chain: Schema.String,
  message: Schema.String
}) {}

/** A step failed without a heuristic and the chain has no fallback. */
export class ChainFailed extends Schema.TaggedError<ChainFailed>()("ChainFailed", {
  chain: Schema.String,
  run_id: Schema.String,
  message: Schema.String
}) {}

export class ChainAlreadyRegistered extends Schema.TaggedError<ChainAlreadyRegistered>()(
  "ChainAlreadyRegistered",
  { chain: Schema.String }
) {}

export interface ChainResult<O> {
  readonly run_id: string
  readonly chain: string
  readonly output: O
  /** `heuristic` as soon as one step (or the whole chain) fell back. */
  readonly source: RunSource
  /** Every step was answered from the cache: the provider was not called. */
  readonly cached: boolean
  readonly duration_ms: number
  readonly steps: ReadonlyArray<Omit<ChainStepCompleted, "_tag">>
}

export interface ChainInfo {
  readonly name: string
  readonly description: string
  readonly version: number
  readonly steps: ReadonlyArray<{ readonly name: string; readonly version: number }>
}

export interface ChainStats {
  readonly runs: number
  readonly completed: number
  readonly failed: number
  readonly heuristic: number
  readonly cached: number
  readonly steps: { readonly model: number; readonly cache: number; readonly heuristic: number }
  readonly running: number
  readonly by_chain: Record<
    string,
    { readonly runs: number; readonly heuristic: number; readonly avg_ms: number }
  >
}

export interface RunOptions {
  readonly userId?: string | undefined
}

export interface ChainExecutorShape {
  readonly register: <I, O>(chain: Chain<I, O, LanguageModel>) => Effect.Effect<void, ChainAlreadyRegistered>
  readonly chains: Effect.Effect<ReadonlyArray<ChainInfo>>
  /** Runs a chain value with typed input. */
  readonly run: <I, O>(
    chain: Chain<I, O, LanguageModel>,
    input: I,
    options?: RunOptions
  ) => Effect.Effect<ChainResult<O>, ChainFailed>
  /** Runs a registered chain by name on untrusted input; the output comes back encoded (JSON-ready). */
  readonly runByName: (
    name: string,
    input: unknown,
    options?: RunOptions
  ) => Effect.Effect<ChainResult<unknown>, ChainNotFound | ChainInputInvalid | ChainFailed>
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<ChainRunView>>
  /** The latest runs of this process, newest first. */
  readonly recentRuns: (limit: number) => Effect.Effect<ReadonlyArray<ChainRunView>>
  readonly stats: Effect.Effect<ChainStats>
}

export class ChainExecutor extends Context.Service<ChainExecutor, ChainExecutorShape>()("ChainExecutor") {}

/** Results of the model path are cached this long unless a chain says otherwise. */
export const STEP_CACHE_TTL = "30 minutes"
const RECENT_RUNS = 200

/**
 * These errors say the request never reached the model or never will: retrying the step would only
 * wait (for the breaker, the limiter) where the fallback answers now.
 */
const NOT_RETRYABLE = new Set([
  "CircuitOpen",
  "RateLimited",
  "BulkheadFull",
  "DeadlineExceeded",
  "ModelUnavailable"
])

const hashOf = (value: unknown) =>
  createHash("sha256").update(JSON.stringify(value)).digest("hex").slice(0, 32)

const describe = (error: StepError) => (error.message ? `${error._tag}: ${error.message}` : error._tag)

interface RegisteredChain {
  readonly info: ChainInfo
  readonly runUnknown: (
    input: unknown,
    options: RunOptions
  ) => Effect.Effect<ChainResult<unknown>, ChainInputInvalid | ChainFailed>
}

export const makeChainExecutor = Effect.gen(function* () {
  const cache = yield* Cache
  const store = yield* EventStore
  const metrics = yield* Metrics
  const model = yield* LanguageModel
  const registry = new Map<string, RegisteredChain>()
  const recent: Array<ChainRunView> = []
  const counters = {
    runs: 0,
    completed: 0,
    failed: 0,
    heuristic: 0,
    cached: 0,
    running: 0,
    steps: { model: 0, cache: 0, heuristic: 0 },
    byChain: new Map<string, { runs: number; heuristic: number; totalMs: number }>()
  }

  // Run records are observability: a store hiccup must not fail the user's request.
  const record = (runId: string, events: ReadonlyArray<ChainRunEvent>) =>
    store
      .append(
        chainRunStream(runId),
        "any",
        events.map((event) => ({
          eventId: randomUUID(),
          type: event._tag,
          data: Schema.encodeSync(ChainRunEvent)(event),
          metadata: { timestamp: new Date().toISOString(), correlationId: runId }
        }))
      )
      .pipe(
        Effect.catch((error) => Effect.logWarning("chain run not recorded", error)),
        Effect.asVoid
      )

  const remember = (view: ChainRunView) =>
    Effect.sync(() => {
      recent.unshift(view)
      if (recent.length > RECENT_RUNS) recent.length = RECENT_RUNS
    })

  const execute = <I, O>(
    chain: Chain<I, O, LanguageModel>,
    input: I,
    options: RunOptions
  ): Effect.Effect<ChainResult<O>, ChainFailed> =>
    Effect.gen(function* () {
      const runId = randomUUID()
      const startedMs = yield* Clock.currentTimeMillis
      const startedAt = new Date(startedMs).toISOString()
      const stepLog = yield* Ref.make<ReadonlyArray<Omit<ChainStepCompleted, "_tag">>>([])
      const userId = options.userId ?? null
      yield* record(runId, [
        {
          _tag: "ChainRunStarted",
          run_id: runId,
          chain: chain.name,
          version: chain.version,
          user_id: userId,
          at: startedAt
        }
      ])
      counters.runs++
      counters.running++

      const runner: StepRunner = <SI, SO, R>(step: Step<SI, SO, R>, stepInput: SI) =>
        Effect.gen(function* () {
          const began = yield* Clock.currentTimeMillis
          const schedule = step.retry ?? chain.retry
          const modelPath = step.run(stepInput).pipe((attempt) =>
            schedule === undefined
              ? attempt
              : Effect.retry(attempt, {
                  schedule,
                  while: (error: StepError) => !NOT_RETRYABLE.has(error._tag)
                })
          )
          const policy = step.cache ?? chain.cache
          const loaded = yield* Ref.make(false)
          const answered: Effect.Effect<SO, StepError, R> =
            policy._tag === "NoCache"
              ? Effect.tap(modelPath, () => Ref.set(loaded, true))
              : Effect.gen(function* () {
                  const encoded = yield* Schema.encodeEffect(step.input)(stepInput).pipe(Effect.orDie)
                  const key = `chain:${chain.name}:${step.name}:v${chain.version}.${step.version}:${hashOf(encoded)}`
                  // Only the model path is the loader: a fallback result never enters the cache.
                  return yield* cache.getOrLoad(
                    key,
                    step.output,
                    policy.ttl,
                    Effect.tap(modelPath, () => Ref.set(loaded, true))
                  )
                })
          const outcome = yield* answered.pipe(
            Effect.flatMap((output) =>
              Effect.map(Ref.get(loaded), (fresh) => ({
                output,
                source: (fresh ? "model" : "cache") as StepSource,
                error: null as string | null
              }))
            ),
            Effect.catch((error) =>
              step.heuristic === undefined
                ? Effect.fail(new StepFailed({ step: step.name, cause: describe(error) }))
                : Effect.succeed({
                    output: step.heuristic(stepInput),
                    source: "heuristic" as StepSource,
                    error: describe(error) as string | null
                  })
            )
          )
          const ended = yield* Clock.currentTimeMillis
          const duration_ms = ended - began
          counters.steps[outcome.source]++
          metrics.chains.observeStep(chain.name, step.name, outcome.source, duration_ms / 1000)
          yield* Ref.update(stepLog, (log) => [
            ...log,
            {
              step: step.name,
              version: step.version,
              source: outcome.source,
              duration_ms,
              error: outcome.error
            }
          ])
          return outcome.output
        }).pipe(
          withSpan(`chain.${chain.name}.${step.name}`, {
            attributes: {
              "chain.name": chain.name,
              "chain.step": step.name,
              "chain.step.version": step.version
            }
          })
        )

      const flowResult = yield* chain.flow
        .interpret(runner)(input)
        .pipe(
          Effect.map((output) => ({ output, chainFallback: false })),
          Effect.catch((failure) =>
            chain.fallback === undefined
              ? Effect.fail(failure)
              : Effect.succeed({ output: chain.fallback(input), chainFallback: true })
          ),
          Effect.result
        )
      const ended = yield* Clock.currentTimeMillis
      const duration_ms = ended - startedMs
      const steps = yield* Ref.get(stepLog)
      const at = new Date(ended).toISOString()
      counters.running--
      const stat = counters.byChain.get(chain.name) ?? { runs: 0, heuristic: 0, totalMs: 0 }
      counters.byChain.set(chain.name, stat)
      stat.runs++
      stat.totalMs += duration_ms
      const base: ChainRunView = {
        run_id: runId,
        chain: chain.name,
        version: chain.version,
        user_id: userId,
        status: "running",
        source: null,
        cached: false,
        started_at: startedAt,
        duration_ms,
        error: null,
        steps
      }
      const stepEvents = steps.map((s): ChainRunEvent => ({ _tag: "ChainStepCompleted", ...s }))

      if (Result.isFailure(flowResult)) {
        const message = `${flowResult.failure.step}: ${flowResult.failure.cause}`
        counters.failed++
        yield* record(runId, [...stepEvents, { _tag: "ChainRunFailed", error: message, duration_ms, at }])
        yield* remember({ ...base, status: "failed", error: message })
        return yield* new ChainFailed({ chain: chain.name, run_id: runId, message })
      }
      const source: RunSource =
        flowResult.success.chainFallback || steps.some((s) => s.source === "heuristic") ? "heuristic" : "llm"
      const cached = steps.length > 0 && steps.every((s) => s.source === "cache")
      counters.completed++
      if (source === "heuristic") {
        counters.heuristic++
        stat.heuristic++
      }
      if (cached) counters.cached++
      metrics.chains.run(chain.name, source === "heuristic" ? "heuristic" : cached ? "cache" : "model")
      yield* record(runId, [...stepEvents, { _tag: "ChainRunFinished", source, cached, duration_ms, at }])
      yield* remember({ ...base, status: "completed", source, cached })
      return {
        run_id: runId,
        chain: chain.name,
        output: flowResult.success.output,
        source,
        cached,
        duration_ms,
        steps
      }
    }).pipe(
      Effect.provideService(LanguageModel, model),
      withSpan(`chain.${chain.name}`, { attributes: { "chain.name": chain.name } })
    )

  const register = <I, O>(chain: Chain<I, O, LanguageModel>) =>
    Effect.suspend(() => {
      if (registry.has(chain.name)) return Effect.fail(new ChainAlreadyRegistered({ chain: chain.name }))
      const decode = Schema.decodeUnknownEffect(chain.input)
      const encode = Schema.encodeEffect(chain.output)
      registry.set(chain.name, {
        info: {
          name: chain.name,
          description: chain.description,
          version: chain.version,
          steps: chain.flow.steps
        },
        runUnknown: (raw, options) =>
          decode(raw).pipe(
            Effect.mapError(
              (error) =>
                new ChainInputInvalid({
                  chain: chain.name,
                  message: error.message
                })
            ),
            Effect.flatMap((input) => execute(chain, input, options)),
            Effect.flatMap((result) =>
              Effect.map(
                Effect.orDie(encode(result.output)),
                (output) => ({ ...result, output }) as ChainResult<unknown>
              )
            )
          )
      })
      return Effect.void
    })

  const getRun = (runId: string) =>
    store.read(chainRunStream(runId)).pipe(
      Stream.mapEffect((stored) => Schema.decodeUnknownEffect(ChainRunEvent)(stored.data)),
      Stream.runCollect,
      Effect.map((events) => Option.fromNullishOr(foldRun(events))),
      Effect.catch((error) => Effect.as(Effect.logWarning("chain run unreadable", error), Option.none()))
    )

  const service: ChainExecutorShape = {
    register,
    chains: Effect.sync(() => [...registry.values()].map((entry) => entry.info)),
    run: (chain, input, options = {}) => execute(chain, input, options),
    runByName: (name, input, options = {}) =>
      Effect.suspend(
        (): Effect.Effect<ChainResult<unknown>, ChainNotFound | ChainInputInvalid | ChainFailed> => {
          const entry = registry.get(name)
          return entry === undefined
            ? Effect.fail(new ChainNotFound({ chain: name }))
            : entry.runUnknown(input, options)
        }
      ),
    getRun,
    recentRuns: (limit) => Effect.sync(() => recent.slice(0, limit)),
    stats: Effect.sync(() => ({
      runs: counters.runs,
      completed: counters.completed,
      failed: counters.failed,
      heuristic: counters.heuristic,
      cached: counters.cached,
      running: counters.running,
      steps: { ...counters.steps },
      by_chain: Object.fromEntries(
        [...counters.byChain].map(([name, s]) => [
          name,
          { runs: s.runs, heuristic: s.heuristic, avg_ms: s.runs === 0 ? 0 : Math.round(s.totalMs / s.runs) }
        ])
      )
    }))
  }
  return service
})

/** The executor alone; `ChainsLive` adds the built-in chains. */
export const ChainExecutorBase = Layer.effect(ChainExecutor, makeChainExecutor)
