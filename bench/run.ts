/**
 * `npm run bench`: runs every benchmark in this folder (or those named on the command line) one after
 * the other, each in its own process so that one's warm-up, GC and JIT state never colour another's.
 * Each benchmark writes its own section of BENCHMARKS.md.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { basename, join } from "node:path"

const dir = new URL(".", import.meta.url).pathname
const wanted = new Set(process.argv.slice(2))
const benches = readdirSync(dir)
  .filter((file) => file.endsWith(".ts") && file !== "run.ts" && !file.startsWith("_"))
  .filter((file) => wanted.size === 0 || wanted.has(basename(file, ".ts")))
  .sort()

let failed = 0
for (const file of benches) {
  console.log(`\n=== bench/${file}`)
  const result = spawnSync(process.execPath, ["--import", "tsx", join(dir, file)], { stdio: "inherit" })
  if (result.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
