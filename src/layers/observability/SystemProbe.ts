import { Context, Effect, Layer, Schema } from "effect"
import { statfs } from "node:fs/promises"
import * as Os from "node:os"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { AppConfig } from "../config/AppConfig.ts"

export const SystemSample = Schema.Struct({
  cpu: Schema.Struct({
    /** Whole machine, over the time since the previous sample. */
    system_percent: Schema.Number,
    /** This process, as `top` shows it: 100 means one core busy (a saturated event loop). */
    process_percent: Schema.Number,
    cores: Schema.Number
  }),
  memory: Schema.Struct({
    rss_bytes: Schema.Number,
    heap_used_bytes: Schema.Number,
    heap_total_bytes: Schema.Number,
    system_total_bytes: Schema.Number,
    system_available_bytes: Schema.Number,
    system_used_percent: Schema.Number
  }),
  disk: Schema.NullOr(
    Schema.Struct({
      path: Schema.String,
      total_bytes: Schema.Number,
      free_bytes: Schema.Number,
      used_percent: Schema.Number
    })
  ),
  event_loop: Schema.Struct({
    lag_p99_ms: Schema.Number,
    lag_mean_ms: Schema.Number,
    lag_max_ms: Schema.Number
  })
}).annotate({ identifier: "SystemSample" })
export type SystemSample = typeof SystemSample.Type

/**
 * Where the Monitor's system figures come from. Every read is either a cheap synchronous counter or
 * asynchronous (`statfs`): nothing waits on the event loop to measure CPU, unlike the original's
 * one-second blocking sample. Tests replace it with injected samples.
 */
export class SystemProbe extends Context.Service<
  SystemProbe,
  { readonly sample: Effect.Effect<SystemSample> }
>()("SystemProbe") {}

const round = (value: number, digits = 2) => {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

const cpuTimes = () => {
  let busy = 0
  let total = 0
  for (const cpu of Os.cpus()) {
    const { user, nice, sys, idle, irq } = cpu.times
    busy += user + nice + sys + irq
    total += user + nice + sys + irq + idle
  }
  return { busy, total }
}

export const SystemProbeLive = Layer.effect(
  SystemProbe,
  Effect.gen(function* () {
    const { dataDir } = yield* AppConfig
    const loop = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const histogram = monitorEventLoopDelay({ resolution: 10 })
        histogram.enable()
        return histogram
      }),
      (histogram) => Effect.sync(() => histogram.disable())
    )
    const cores = Os.availableParallelism()
    // The first sample averages since boot (machine) and since start (process), so it is meaningful too.
    let previousCpu = { busy: 0, total: 0 }
    let previousProcess = { user: 0, system: 0 }
    let previousAt = 0

    const disk = Effect.tryPromise(() => statfs(dataDir)).pipe(
      Effect.map((stats) => {
        const total = stats.blocks * stats.bsize
        const free = stats.bavail * stats.bsize
        const used = (stats.blocks - stats.bfree) * stats.bsize
        return {
          path: dataDir,
          total_bytes: total,
          free_bytes: free,
          used_percent: used + free === 0 ? 0 : round((used / (used + free)) * 100)
        }
      }),
      Effect.orElseSucceed(() => null)
    )

    const sample = Effect.gen(function* () {
      const now = performance.now()
      const cpu = cpuTimes()
      const processCpu = process.cpuUsage()
      const elapsedMicros = Math.max(1, (now - previousAt) * 1000)
      const busyDelta = cpu.busy - previousCpu.busy
      const totalDelta = cpu.total - previousCpu.total
      const processDelta =
        processCpu.user - previousProcess.user + (processCpu.system - previousProcess.system)
      previousCpu = cpu
      previousProcess = processCpu
      previousAt = now
      const memory = process.memoryUsage()
      const totalMemory = Os.totalmem()
      const available = Os.freemem()
      const nsToMs = (ns: number) => (Number.isFinite(ns) ? round(ns / 1e6, 3) : 0)
      const eventLoop = {
        lag_p99_ms: nsToMs(loop.percentile(99)),
        lag_mean_ms: nsToMs(loop.mean),
        lag_max_ms: nsToMs(loop.max)
      }
      loop.reset()
      return {
        cpu: {
          system_percent: totalDelta > 0 ? round((busyDelta / totalDelta) * 100) : 0,
          process_percent: round((processDelta / elapsedMicros) * 100),
          cores
        },
        memory: {
          rss_bytes: memory.rss,
          heap_used_bytes: memory.heapUsed,
          heap_total_bytes: memory.heapTotal,
          system_total_bytes: totalMemory,
          system_available_bytes: available,
          system_used_percent: round(((totalMemory - available) / totalMemory) * 100)
        },
        disk: yield* disk,
        event_loop: eventLoop
      } satisfies SystemSample
    })
    return { sample }
  })
)
