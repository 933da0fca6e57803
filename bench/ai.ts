/**
 * Overhead of the AI optimizer's full policy stack (breaker → rate limit → bulkhead → per-attempt
 * timeout → retry schedule → overall deadline → stats) around an instant provider, next to the bare
 * call, in one run. The limit is opened wide so it never makes a caller wait: what is measured is the
 * bookkeeping, not the policy. Writes its section into BENCHMARKS.md.
 */
import { Effect } from "effect"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { makeAiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import { defaultAiOptimizerConfig } from "../src/layers/ai/AiOptimizerConfig.ts"

const CALLS = Number(process.env.BENCH_CALLS ?? 5_000)
const ROUNDS = 5
const CONCURRENT = 100

const config = {
  ...defaultAiOptimizerConfig,
  rateLimit: { limit: 1_000_000_000, windowMillis: 60_000, burst: 999_999_999, maxWaitMillis: 15_000 },
  bulkhead: { maxConcurrent: 3, maxQueue: CONCURRENT }
}

const instant = Effect.succeed(42)

const timeSequential = (call: Effect.Effect<number, unknown>) =>
  Effect.gen(function* () {
    const start = performance.now()
    for (let i = 0; i < CALLS; i++) yield* call
    return ((performance.now() - start) * 1000) / CALLS
  })

const timeConcurrent = (call: Effect.Effect<number, unknown>) =>
  Effect.gen(function* () {
    const start = performance.now()
    for (let i = 0; i < CALLS / CONCURRENT; i++) {
      yield* Effect.all(
        Array.from({ length: CONCURRENT }, () => call),
        { concurrency: "unbounded" }
      )
    }
    return ((performance.now() - start) * 1000) / CALLS
  })

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const program = Effect.scoped(
  Effect.gen(function* () {
    const optimizer = yield* makeAiOptimizer(config)
    const guarded = optimizer.execute(instant)
    // Warm up the JIT on both paths before measuring.
    yield* timeSequential(instant)
    yield* timeSequential(guarded)
    const rows = {
      bareSeq: [] as number[],
      fullSeq: [] as number[],
      bareConc: [] as number[],
      fullConc: [] as number[]
    }
    for (let round = 0; round < ROUNDS; round++) {
      rows.bareSeq.push(yield* timeSequential(instant))
      rows.fullSeq.push(yield* timeSequential(guarded))
      rows.bareConc.push(yield* timeConcurrent(instant))
      rows.fullConc.push(yield* timeConcurrent(guarded))
    }
    const stats = yield* optimizer.stats
    return { rows, stats }
  })
)

const { rows, stats } = await Effect.runPromise(program)
const fmt = (us: number) => us.toFixed(2)
const bareSeq = median(rows.bareSeq)
const fullSeq = median(rows.fullSeq)
const bareConc = median(rows.bareConc)
const fullConc = median(rows.fullConc)
const cpu = cpus()[0]?.model ?? "unknown CPU"

const section = `<!-- ai:start -->
## AI optimizer overhead (\`bench/ai.ts\`)

Method: one process, one run. An instant provider call (\`Effect.succeed\`) is timed bare and through
\`AiOptimizer.execute\` with the full policy stack (breaker, rate limit, bulkhead of 3, per-attempt
timeout, retry schedule, overall deadline, stats). The rate limit is opened wide so nobody waits: this
measures the stack's own cost, not its policy. ${CALLS.toLocaleString("en")} calls per measurement,
sequentially and in waves of ${CONCURRENT} concurrent callers (which queue behind the bulkhead of 3);
median of ${ROUNDS} rounds after a warm-up.

| path | sequential µs/call | ${CONCURRENT} concurrent µs/call |
|---|---|---|
| bare call | ${fmt(bareSeq)} | ${fmt(bareConc)} |
| full policy stack | ${fmt(fullSeq)} | ${fmt(fullConc)} |
| overhead | ${fmt(fullSeq - bareSeq)} | ${fmt(fullConc - bareConc)} |

Most of the overhead is the two \`Effect.timeoutFail\` (per attempt and overall deadline: each races the
call against a forked sleeper fiber) and the retry driver; a real provider call takes hundreds of
milliseconds, so even this is a fraction of a percent of one. Folding both timeouts into one is the
obvious next saving.
Calls made: ${stats.total.toLocaleString("en")}, successes ${stats.successes.toLocaleString("en")}.

Machine: ${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}
(shared with other jobs while it ran).
<!-- ai:end -->`

const file = new URL("../BENCHMARKS.md", import.meta.url)
const current = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n"
const next = /<!-- ai:start -->[\s\S]*<!-- ai:end -->/.test(current)
  ? current.replace(/<!-- ai:start -->[\s\S]*<!-- ai:end -->/, section)
  : `${current.trimEnd()}\n\n${section}\n`
writeFileSync(file, next)
console.log(section)
