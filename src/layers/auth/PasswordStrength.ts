import type { ZxcvbnFactory } from "@zxcvbn-ts/core"
import { Effect, Redacted } from "effect"
import { normalisePassword } from "./Passwords.ts"

/**
 * The common-password check of NIST SP 800-63B (5.1.1.2: refuse values "known to be commonly-used,
 * expected, or compromised"), by zxcvbn with its common dictionaries (40,000+ leaked passwords, diceware
 * words, keyboard walks). The dictionaries weigh megabytes and take tens of milliseconds to index,
 * so they are loaded on the first registration, never at start-up.
 */

/** zxcvbn's scores run 0–4; below 2 is "too guessable" (under ~10^6 guesses). */
export const MIN_SCORE = 2

/**
 * A dynamically imported CommonJS module: Node and tsx give its exports as named ones, the esbuild bundle
 * behind `npm start` as `default`. Either way, the exports.
 */
const exportsOf = <M extends object>(module: M, name: keyof M): M => {
  if (module[name] !== undefined) return module
  const fallback: unknown = Reflect.get(module, "default")
  return typeof fallback === "object" && fallback !== null ? (fallback as M) : module
}

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
  Effect.promise(loadFactory).pipe(
    Effect.map((zxcvbn) => {
      const result = zxcvbn.check(normalisePassword(Redacted.value(password)), userWords(userInputs))
      const whole = result.sequence.length === 1 ? result.sequence[0] : undefined
      if (whole?.pattern === "dictionary")
        return { reason: "is a commonly used password", score: result.score }
      if (result.score < MIN_SCORE)
        return {
          reason: `is too easy to guess (strength ${result.score} of 4, at least ${MIN_SCORE} needed)`,
          score: result.score
        }
      return undefined
    })
  )
