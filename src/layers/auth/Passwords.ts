import type { Algorithm, Options as Argon2Options } from "@node-rs/argon2"
import { Effect, Redacted, Schema, Semaphore } from "effect"
import { scrypt, timingSafeEqual } from "node:crypto"
import { availableParallelism } from "node:os"

/**
 * Password hashing: argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane) through `@node-rs/argon2`,
 * whose hashes run on libuv's thread pool, off the event loop. Hashes written by older builds
 * (`scrypt$N$r$p$salt$hash`) still verify, and `verifyPassword` says when a hash should be replaced.
 *
 * New hashes are computed on the NFKC form of the password, so a password typed on another keyboard
 * (full-width digits, composed accents) still matches; legacy scrypt hashes were computed on the raw
 * text and are verified on it.
 */

// `Algorithm` is an ambient const enum, which `isolatedModules` cannot read as a value.
const ARGON2ID = 2 as Algorithm.Argon2id

/** OWASP Password Storage Cheat Sheet, argon2id, first option. */
export const ARGON2_PARAMS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

const argon2Options: Argon2Options = { algorithm: ARGON2ID, ...ARGON2_PARAMS }

/** The native addon is loaded on the first hash, not at start-up. */
let argon2: Promise<typeof import("@node-rs/argon2")> | undefined
const loadArgon2 = () => {
  argon2 ??= import("@node-rs/argon2")
  return argon2
}

/**
 * What a login for an unknown email is verified against, so it costs one argon2id run like any other
 * login and response times do not tell which emails exist. The password behind it was random and
 * discarded; a constant saves hashing one at every start-up.
 */
export const DECOY_HASH =
  "$argon2id$v=19$m=19456,t=2,p=1$LDwMB+VLo3oGAOvClHMeGw$y4NsWxMv2/pa2jQuH2R8VnU20/z4QaT9pSRVzSEbXis"

export const normalisePassword = (password: string): string => password.normalize("NFKC")

// ---------------------------------------------------------------------------------------------
// Legacy scrypt (verify only)

const SCRYPT_KEY_LENGTH = 32

const scryptDerive = (password: string, salt: Buffer, params: { N: number; r: number; p: number }) =>
  Effect.callback<Buffer | undefined>((resume) => {
    try {
      scrypt(
        password,
        salt,
        SCRYPT_KEY_LENGTH,
        { ...params, maxmem: 256 * params.N * params.r },
        (error, key) => {
          // A stored hash with parameters scrypt refuses cannot match anything.
          resume(Effect.succeed(error ? undefined : key))
        }
      )
    } catch {
      resume(Effect.succeed(undefined))
    }
  })

const verifyScrypt = (password: string, stored: string): Effect.Effect<boolean> => {
  const [, n, r, p, salt, hash] = stored.split("$")
  if (!n || !r || !p || !salt || !hash) return Effect.succeed(false)
  const expected = Buffer.from(hash, "base64url")
  return Effect.map(
    scryptDerive(password, Buffer.from(salt, "base64url"), { N: Number(n), r: Number(r), p: Number(p) }),
    (key) => key !== undefined && key.length === expected.length && timingSafeEqual(key, expected)
  )
}

// ---------------------------------------------------------------------------------------------
// The bounded hasher

/** Every hashing slot and queue place is taken: the caller should come back after `retryAfterSeconds`. */
export class PasswordHashingBusy extends Schema.TaggedError<PasswordHashingBusy>()("PasswordHashingBusy", {
  retryAfterSeconds: Schema.Number
}) {
  override get message(): string {
    return `password hashing is saturated, retry after ${this.retryAfterSeconds}s`
  }
}

export interface Verdict {
  readonly ok: boolean
  /** The hash is of an older scheme or weaker parameters: replace it now that the password is known. */
  readonly needsRehash: boolean
}

export interface PasswordHasherOptions {
  /** Hashes computed at once; each holds ~19 MiB and one core for tens of milliseconds. */
  readonly concurrency: number
  /** Hashes waiting for a slot beyond which a request is refused rather than left to stall. */
  readonly maxQueue: number
  readonly retryAfterSeconds: number
}

/** One core is left to the event loop, so a login storm never starves the other requests. */
export const defaultHasherOptions = (): PasswordHasherOptions => ({
  concurrency: Math.max(1, availableParallelism() - 1),
  maxQueue: 64,
  retryAfterSeconds: 1
})

export interface PasswordHasher {
  readonly hash: (password: Redacted.Redacted<string>) => Effect.Effect<string, PasswordHashingBusy>
  readonly verify: (
    password: Redacted.Redacted<string>,
    stored: string
  ) => Effect.Effect<Verdict, PasswordHashingBusy>
  /** Hashes running or waiting now. */
  readonly pending: () => number
}

const isCurrentArgon2 = (stored: string): boolean =>
  stored.startsWith(
    `$argon2id$v=19$m=${ARGON2_PARAMS.memoryCost},t=${ARGON2_PARAMS.timeCost},p=${ARGON2_PARAMS.parallelism}$`
  )

/**
 * Verifies an argon2 hash with the library `load` gives. A library that cannot be loaded (a deployment
 * without the native addon) is a defect, a 500 in the logs: swallowed, it would answer every login
 * "wrong password" and look like an attack on every account.
 */
export const verifyArgon2With = (
  load: () => Promise<Pick<typeof import("@node-rs/argon2"), "verify">>,
  password: Redacted.Redacted<string>,
  stored: string
): Effect.Effect<boolean> =>
  Effect.flatMap(Effect.promise(load), (lib) =>
    Effect.promise(() =>
      lib
        .verify(stored, normalisePassword(Redacted.value(password)))
        // A malformed stored hash matches nothing.
        .catch(() => false)
    )
  )

const verifyAny = (password: Redacted.Redacted<string>, stored: string): Effect.Effect<Verdict> => {
  if (stored.startsWith("scrypt$"))
    return Effect.map(verifyScrypt(Redacted.value(password), stored), (ok) => ({ ok, needsRehash: ok }))
  if (!stored.startsWith("$argon2")) return Effect.succeed({ ok: false, needsRehash: false })
  return Effect.map(verifyArgon2With(loadArgon2, password, stored), (ok) => ({
    ok,
    needsRehash: ok && !isCurrentArgon2(stored)
  }))
}

const hashArgon2 = (password: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.promise(() =>
    loadArgon2().then((lib) => lib.hash(normalisePassword(Redacted.value(password)), argon2Options))
  )

/**
 * At most `concurrency` hashes at once and `maxQueue` waiting; beyond that `PasswordHashingBusy` at once.
 * The count is a plain number: JavaScript runs this code on one thread, and `ensuring` releases the
 * place on success, failure and interruption alike.
 */
export const makePasswordHasher = (
  options: PasswordHasherOptions = defaultHasherOptions()
): Effect.Effect<PasswordHasher> =>
  Effect.map(Semaphore.make(options.concurrency), (slots) => {
    let pending = 0
    const bounded = <A>(task: Effect.Effect<A>): Effect.Effect<A, PasswordHashingBusy> =>
      Effect.suspend(() => {
        if (pending >= options.concurrency + options.maxQueue)
          return Effect.fail(new PasswordHashingBusy({ retryAfterSeconds: options.retryAfterSeconds }))
        pending += 1
        return slots
          .withPermits(1)(task)
          .pipe(Effect.ensuring(Effect.sync(() => (pending -= 1))))
      })
    return {
      hash: (password) => bounded(hashArgon2(password)),
      verify: (password, stored) => bounded(verifyAny(password, stored)),
      pending: () => pending
    }
  })
