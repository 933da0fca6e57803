import { type Duration, Effect, type Schedule, Schema } from "effect"
import { LanguageModel } from "../../layers/ai/LanguageModel.ts"

/**
 * The chain DSL. A `Step` is one typed unit of work (usually one model call) with an input and an
 * output Schema, a version, an optional heuristic fallback, a retry schedule and a cache policy. Steps
 * become `Flow`s, which compose sequentially (`andThen`: the first output must be assignable to the
 * second input, or it does not compile) and in parallel (`parallel`: one input fanned out to named
 * branches, run with a concurrency bound). A `Chain` names a flow and gives its input and output
 * Schemas, so the executor can decode untrusted input and record runs by name.
 *
 * A flow does not run itself: it is interpreted by the executor, which wraps every step in a span,
 * the cache, retries, the fallback, metrics and run events.
 */

/** What failed in a step's model path: a provider, optimizer or decoding error (all tagged). */
export interface StepError {
  readonly _tag: string
  readonly message?: string
}

export type CachePolicy =
  | { readonly _tag: "Cached"; readonly ttl: Duration.Input }
  | { readonly _tag: "NoCache" }

export const CacheFor = (ttl: Duration.Input): CachePolicy => ({ _tag: "Cached", ttl })
export const NoCache: CachePolicy = { _tag: "NoCache" }

export interface Step<I, O, R> {
  readonly name: string
  /** Bump it when the prompt or the output's meaning changes: it is part of the cache key. */
  readonly version: number
  readonly input: Schema.Codec<I, unknown>
  readonly output: Schema.Codec<O, unknown>
  /** The model path. */
  readonly run: (input: I) => Effect.Effect<O, StepError, R>
  /** Used when the model path fails (provider down, breaker open, reply unusable). Never cached. */
  readonly heuristic: ((input: I) => O) | undefined
  /** Overrides the chain's retry schedule for this step. */
  readonly retry: Schedule.Schedule<unknown, StepError> | undefined
  /** Overrides the chain's cache policy for this step. */
  readonly cache: CachePolicy | undefined
}

/** Runs one step with everything around it; supplied by the executor. */
export type StepRunner = <I, O, R>(step: Step<I, O, R>, input: I) => Effect.Effect<O, StepFailed, R>

/** A step had no usable result: its model path failed and it has no heuristic. */
export class StepFailed extends Schema.TaggedError<StepFailed>()("StepFailed", {
  step: Schema.String,
  cause: Schema.String
}) {}

export interface StepInfo {
  readonly name: string
  readonly version: number
}

/**
 * A typed pipeline from `I` to `O`. Only `interpret` mentions the types, as a function, so `I` is
 * contravariant and `O` covariant: a flow accepting more or producing more specific values fits where
 * a narrower one is expected, and nothing else does.
 */
export interface Flow<in I, out O, out R> {
  readonly steps: ReadonlyArray<StepInfo>
  readonly interpret: (run: StepRunner) => (input: I) => Effect.Effect<O, StepFailed, R>
}

type AnyFlow = Flow<never, unknown, unknown>
type InputOf<F> = [F] extends [Flow<infer I, unknown, unknown>] ? I : never
type OutputOf<F> = F extends Flow<never, infer O, unknown> ? O : never
type ContextOf<F> = F extends Flow<never, unknown, infer R> ? R : never

export interface StepOptions<I, II, O, OI, R> {
  readonly name: string
  readonly version?: number
  readonly input: Schema.Codec<I, II>
  readonly output: Schema.Codec<O, OI>
  readonly run: (input: I) => Effect.Effect<O, StepError, R>
  readonly heuristic?: (input: I) => O
  readonly retry?: Schedule.Schedule<unknown, StepError>
  readonly cache?: CachePolicy
}

/** A step as a flow of one. */
export const step = <I, II, O, OI, R>(options: StepOptions<I, II, O, OI, R>): Flow<I, O, R> => {
  const definition: Step<I, O, R> = {
    name: options.name,
    version: options.version ?? 1,
    // A Codec is covariant in its encoded side: no widening needed (v3 composed with Schema.Unknown).
    input: options.input,
    output: options.output,
    run: options.run,
    heuristic: options.heuristic,
    retry: options.retry,
    cache: options.cache
  }
  return {
    steps: [{ name: definition.name, version: definition.version }],
    interpret: (run) => (input) => run(definition, input)
  }
}

export interface PromptOptions<I, II, O, OI> extends Omit<StepOptions<I, II, O, OI, LanguageModel>, "run"> {
  readonly system: string
  readonly prompt: (input: I) => string
}

/** A step whose model path is one `generateObject` call, its reply decoded with `output`. */
export const prompt = <I, II, O, OI>(options: PromptOptions<I, II, O, OI>): Flow<I, O, LanguageModel> =>
  step({
    ...options,
    run: (input) =>
      Effect.flatMap(LanguageModel, (model) =>
        model.generateObject({
          system: options.system,
          prompt: options.prompt(input),
          schema: options.output
        })
      )
  })

/** Sequential composition: `second` gets what `first` produced. */
export const andThen = <A, B, C, R1, R2>(
  first: Flow<A, B, R1>,
  second: Flow<B, C, R2>
): Flow<A, C, R1 | R2> => ({
  steps: [...first.steps, ...second.steps],
  interpret: (run) => {
    const one = first.interpret(run)
    const two = second.interpret(run)
    return (input) => Effect.flatMap(one(input), two)
  }
})

/** A pure transformation between steps (reshaping, adding what a later step needs). */
export const map = <I, O, P, R>(flow: Flow<I, O, R>, f: (output: O, input: I) => P): Flow<I, P, R> => ({
  steps: flow.steps,
  interpret: (run) => {
    const inner = flow.interpret(run)
    return (input) => Effect.map(inner(input), (output) => f(output, input))
  }
})

/** The input itself, to carry it alongside parallel branches. */
export const identity = <I>(): Flow<I, I, never> => ({
  steps: [],
  interpret: () => (input) => Effect.succeed(input)
})

/**
 * Runs every branch on the same input at once (at most `concurrency` at a time) and collects their
 * outputs under the branches' names. The input type is what every branch accepts.
 */
export const parallel = <const F extends Record<string, AnyFlow>>(
  branches: F,
  options: { readonly concurrency?: number } = {}
): Flow<InputOf<F[keyof F]>, { readonly [K in keyof F]: OutputOf<F[K]> }, ContextOf<F[keyof F]>> => {
  const entries = Object.entries(branches) as unknown as ReadonlyArray<
    [string, Flow<unknown, unknown, unknown>]
  >
  return {
    steps: entries.flatMap(([, flow]) => flow.steps),
    interpret: (run) => {
      const compiled = entries.map(([key, flow]) => [key, flow.interpret(run)] as const)
      return (input) =>
        Effect.all(Object.fromEntries(compiled.map(([key, go]) => [key, go(input)])), {
          concurrency: options.concurrency ?? entries.length
        }) as Effect.Effect<{ readonly [K in keyof F]: OutputOf<F[K]> }, StepFailed, ContextOf<F[keyof F]>>
    }
  }
}

export interface Chain<I, O, R> {
  readonly name: string
  readonly description: string
  readonly version: number
  readonly input: Schema.Codec<I, unknown>
  readonly output: Schema.Codec<O, unknown>
  readonly flow: Flow<I, O, R>
  /** Default retry schedule of its steps: re-asks the model when a reply did not fit, for example. */
  readonly retry: Schedule.Schedule<unknown, StepError> | undefined
  /** Default cache policy of its steps (30 minutes unless said otherwise). */
  readonly cache: CachePolicy
  /** The whole chain's heuristic result, for when a step without its own heuristic fails. */
  readonly fallback: ((input: I) => O) | undefined
}

export interface ChainOptions<I, II, O, OI, R> {
  readonly name: string
  readonly description?: string
  readonly version?: number
  readonly input: Schema.Codec<I, II>
  readonly output: Schema.Codec<O, OI>
  readonly flow: Flow<I, O, R>
  readonly retry?: Schedule.Schedule<unknown, StepError>
  readonly cache?: CachePolicy
  readonly fallback?: (input: I) => O
}

export const DEFAULT_CACHE_TTL: Duration.Input = "30 minutes"

export const make = <I, II, O, OI, R>(options: ChainOptions<I, II, O, OI, R>): Chain<I, O, R> => ({
  name: options.name,
  description: options.description ?? "",
  version: options.version ?? 1,
  input: options.input,
  output: options.output,
  flow: options.flow,
  retry: options.retry,
  cache: options.cache ?? CacheFor(DEFAULT_CACHE_TTL),
  fallback: options.fallback
})
