/**
 * A child process for the first-start race test: once the parent creates GO, creates TARGET through
 * `createFileOnce`, whose generator (run after the existence check, right before the exclusive create)
 * marks this process in BARRIER and waits until COUNT processes have marked it. So every process has
 * seen "no file yet" before any of them writes: the race the check-then-write code lost, made certain.
 * Prints the SHA-256 of the value it ended up with (never the value).
 * Usage: node --import tsx test/support/createOnceWorker.ts <target> <barrier dir> <count> <go file>
 */
import { createHash, randomBytes } from "node:crypto"
import { existsSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { createFileOnce } from "../../src/layers/config/createFileOnce.ts"

const [target, barrier, countArg, goFile] = process.argv.slice(2)
if (!target || !barrier || !countArg || !goFile)
  throw new Error("usage: createOnceWorker <target> <barrier> <n> <go>")
const count = Number(countArg)
const pause = new Int32Array(new SharedArrayBuffer(4))
const sleep = (ms: number) => Atomics.wait(pause, 0, 0, ms)

console.log("ready")
while (!existsSync(goFile)) sleep(1)
const deadline = Date.now() + 30_000
const { content, created } = createFileOnce(
  target,
  () => {
    writeFileSync(join(barrier, String(process.pid)), "")
    while (readdirSync(barrier).length < count) {
      if (Date.now() > deadline) throw new Error("barrier: not every process reached the create step")
      sleep(1)
    }
    return randomBytes(48).toString("base64url")
  },
  { complete: (stored) => stored.length >= 32 }
)
console.log(JSON.stringify({ sha256: createHash("sha256").update(content).digest("hex"), created }))
