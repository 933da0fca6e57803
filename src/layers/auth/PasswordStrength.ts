import type { ZxcvbnFactory } from "@zxcvbn-ts/core"
import { Effect, Redacted } from "effect"
import { createRequire } from "node:module"
import { Worker } from "node:worker_threads"
import { normalisePassword } from "./Passwords.ts"

/**
 * The common-password check of NIST SP 800-63B (5.1.1.2: refuse values "known to be commonly-used,
 * expected, or compromised"), by zxcvbn with its common dictionaries (40,000+ leaked passwords, diceware
 * words, keyboard walks). The dictionaries weigh megabytes and take tens of milliseconds to index,
 * so they are loaded on the first registration, never at start-up, in a worker thread.
 */

/** zxcvbn's scores run 0–4; below 2 is "too guessable" (under ~10^6 guesses). */
export const MIN_SCORE = 2

/** What the check needs of zxcvbn's answer. */
interface Estimate {
  readonly score: number
  /** The pattern of the only match when one match covers the whole password ("dictionary", …). */
  readonly whole: string | undefined
}

const estimateWith = (zxcvbn: ZxcvbnFactory, password: string, inputs: Array<string>): Estimate => {
  const result = zxcvbn.check(password, inputs)
  return {
    score: result.score,
    whole: result.sequence.length === 1 ? result.sequence[0]?.pattern : undefined
  }
}

/**
 * A dynamically imported CommonJS module: Node and tsx give its exports as named ones, the esbuild bundle
 * behind `npm start` as `default`. Either way, the exports.
 */
const exportsOf = <M extends object>(module: M, name: keyof M): M => {
  if (module[name] !== undefined) return module
  const fallback: unknown = Reflect.get(module, "default")
  return typeof fallback === "object" && fallback !== null ? (fallback as M) : module
}

/** zxcvbn on this thread: only when the worker thread cannot run. */
let factory: Promise<ZxcvbnFactory> | undefined
const loadFactory = () => {
  factory ??= Promise.all([import("@zxcvbn-ts/core"), import("@zxcvbn-ts/language-common")]).then(
    ([coreModule, commonModule]) => {
      const core = exportsOf(coreModule, "ZxcvbnFactory")
      const common = exportsOf(commonModule, "dictionary")
      return new core.ZxcvbnFactory({ dictionary: common.dictionary, graphs: common.adjacencyGraphs })
    }
  )
  return factory
}
const estimateHere = (password: string, inputs: Array<string>) =>
  loadFactory().then((zxcvbn) => estimateWith(zxcvbn, password, inputs))

/**
 * zxcvbn's matching is synchronous and, for crafted inputs (long runs of dates and digits), takes tens
 * to hundreds of milliseconds: too long for the event loop. It runs in one worker thread, started on
 * the first check and loaded from node_modules there (the bundle leaves it to `require`).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const core = require(workerData.core)
const common = require(workerData.common)
const zxcvbn = new core.ZxcvbnFactory({ dictionary: common.dictionary, graphs: common.adjacencyGraphs })
parentPort.on("message", ({ id, password, inputs }) => {
  const result = zxcvbn.check(password, inputs)
  const whole = result.sequence.length === 1 ? result.sequence[0].pattern : undefined
  parentPort.postMessage({ id, score: result.score, whole })
})`

interface Pending {
  readonly password: string
  readonly inputs: Array<string>
  readonly resolve: (estimate: Estimate) => void
}

let worker: Worker | undefined
const pending = new Map<number, Pending>()
let nextId = 0

/** A worker that fails takes no check down with it: those in flight are answered on this thread. */
const abandon = (failed: Worker) => {
  if (worker !== failed) return
  worker = undefined
  for (const [id, job] of pending) {
    pending.delete(id)
    void estimateHere(job.password, job.inputs).then(job.resolve)
  }
}

const startWorker = (): Worker | undefined => {
  try {
    const require = createRequire(import.meta.url)
    const started = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        core: require.resolve("@zxcvbn-ts/core"),
        common: require.resolve("@zxcvbn-ts/language-common")
      }
    })
    // Only a check in flight holds the process open, an idle worker never does.
    started.unref()
    started.on("message", (message: Estimate & { readonly id: number }) => {
      const job = pending.get(message.id)
      pending.delete(message.id)
      job?.resolve({ score: message.score, whole: message.whole })
      if (pending.size === 0) started.unref()
    })
    started.on("error", () => abandon(started))
    started.on("exit", () => abandon(started))
    return started
  } catch {
    return undefined
  }
}

const estimate = (password: string, inputs: Array<string>): Promise<Estimate> => {
  worker ??= startWorker()
  const running = worker
  if (running === undefined) return estimateHere(password, inputs)
  return new Promise((resolve) => {
    const id = nextId++
    pending.set(id, { password, inputs, resolve })
    running.ref()
    running.postMessage({ id, password, inputs })
  })
}

export interface WeakVerdict {
  /** Why, in words that never repeat the password. */
  readonly reason: string
  readonly score: number
}

/** The user's own data (email, name) and its parts, as words a password must not simply be. */
const userWords = (inputs: ReadonlyArray<string>): Array<string> =>
  inputs.flatMap((input) => [input, ...input.split(/[@.\s_+-]+/).filter((part) => part.length >= 3)])

/**
 * `undefined` when the password is acceptable. Refused: a score under `MIN_SCORE`, or a password that
 * is, as a whole, one dictionary entry (a leaked password, l33t or reversed variants included), even
 * when zxcvbn would score its length well.
 */
export const checkPasswordStrength = (
  password: Redacted.Redacted<string>,
  userInputs: ReadonlyArray<string> = []
): Effect.Effect<WeakVerdict | undefined> =>
  Effect.promise(() => estimate(normalisePassword(Redacted.value(password)), userWords(userInputs))).pipe(
    Effect.map(({ score, whole }) => {
      if (whole === "dictionary") return { reason: "is a commonly used password", score }
      if (score < MIN_SCORE)
        return {
          reason: `is too easy to guess (strength ${score} of 4, at least ${MIN_SCORE} needed)`,
          score
        }
      return undefined
    })
  )
