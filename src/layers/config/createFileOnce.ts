import { randomBytes } from "node:crypto"
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeSync
} from "node:fs"
import { basename, dirname, join } from "node:path"

/*
 * State a process generates on its first start (the embedded JWT secret) must come out the same in every
 * process that starts on the same DATA_DIR at the same moment: "does it exist? no: generate and write"
 * lets two processes both pass the check and each keep the value it generated.
 *
 * Here the only step that decides is one exclusive create: the value is written and fsynced to a
 * temporary file in the same directory, then hard-linked to the target name. `link` fails with EEXIST
 * when the name exists, so exactly one process's link succeeds, and because the target appears with its
 * whole content, a loser reads the winner's value. A file system without hard links (some network or
 * FUSE mounts) falls back to an exclusive `open(target, "wx")`; a reader can then see the file before
 * its content, which the short wait below covers.
 *
 * Plain synchronous `node:fs`: this runs once at start-up, before anything else needs the event loop.
 */

/** Errors meaning "this file system cannot make hard links", not "the name is taken". */
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EXDEV", "EMLINK"])

const codeOf = (error: unknown): string | undefined =>
  error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined

const pause = new Int32Array(new SharedArrayBuffer(4))
const sleepSync = (ms: number) => {
  Atomics.wait(pause, 0, 0, ms)
}

const readIfExists = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8")
  } catch (error) {
    if (codeOf(error) === "ENOENT") return undefined
    throw error
  }
}

const writeDurably = (file: string, content: string, flag: "wx", mode: number) => {
  const fd = openSync(file, flag, mode)
  try {
    writeSync(fd, content)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Links `temp` to `target`; false when `target` exists already (another process won). */
const linkExclusive = (temp: string, target: string, content: string, mode: number): boolean => {
  try {
    linkSync(temp, target)
    return true
  } catch (error) {
    const code = codeOf(error)
    if (code === "EEXIST") return false
    if (code === undefined || !NO_HARD_LINKS.has(code)) throw error
  }
  try {
    writeDurably(target, content, "wx", mode)
    return true
  } catch (error) {
    if (codeOf(error) === "EEXIST") return false
    throw error
  }
}

export interface CreateFileOnceOptions {
  /**
   * Whether a value read from the file is whole. A file written by an older build (a plain write, not a
   * link) or by the fallback path can be seen empty or short for a moment: it is read again until it is
   * whole or `waitMs` has passed, and then returned as it is, for the caller to judge.
   */
  readonly complete: (content: string) => boolean
  readonly mode?: number
  readonly waitMs?: number
}

export interface CreatedOnce {
  readonly content: string
  /** True in the one process whose value was kept. */
  readonly created: boolean
}

/**
 * The content of `target`: what is there, or else `generate()`'s value if this process is the one that
 * creates the file, or else the value of the process that did. `generate` runs only when the file did
 * not exist when it was looked for.
 */
export const createFileOnce = (
  target: string,
  generate: () => string,
  options: CreateFileOnceOptions
): CreatedOnce => {
  const mode = options.mode ?? 0o600
  const waitMs = options.waitMs ?? 2_000
  const readWhole = (): string | undefined => {
    const deadline = Date.now() + waitMs
    let content = readIfExists(target)
    while (content !== undefined && !options.complete(content) && Date.now() < deadline) {
      sleepSync(10)
      content = readIfExists(target)
    }
    return content
  }

  mkdirSync(dirname(target), { recursive: true })
  const existing = readWhole()
  if (existing !== undefined) return { content: existing, created: false }

  const content = generate()
  const temp = join(
    dirname(target),
    `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`
  )
  writeDurably(temp, content, "wx", mode)
  try {
    if (linkExclusive(temp, target, content, mode)) return { content, created: true }
  } finally {
    unlinkSync(temp)
  }
  const winner = readWhole()
  // Only a deletion between the failed link and this read gets here: nothing to agree with any more.
  if (winner === undefined) throw new Error(`${target} was removed while it was being created`)
  return { content: winner, created: false }
}
