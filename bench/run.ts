/**
 * `npm run bench`: runs every benchmark in this folder (or those named on the command line) one after
 * the other, each in its own process so that one's warm-up, GC and JIT state never colour another's.
 * Each benchmark writes its own section of BENCHMARKS.md. Flags (`--no-build`, `--profile`) are passed
 * on to every benchmark run: `npm run bench -- commands --profile`.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { basename, join } from "node:path"

const dir = new URL(".", import.meta.url).pathname
const args = process.argv.slice(2)
const wanted = new Set(args.filter((arg) => !arg.startsWith("--")))
const flags = args.filter((arg) => arg.startsWith("--"))
const benches = readdirSync(dir)
  .filter((file) => file.endsWith(".ts") && file !== "run.ts" && !file.startsWith("_"))
  .filter((file) => wanted.size === 0 || wanted.has(basename(file, ".ts")))
  .sort()

let failed = 0
for (const file of benches) {
  console.log(`\n=== bench/${file}`)
  const result = spawnSync(process.execPath, ["--import", "tsx", join(dir, file), ...flags], {
    stdio: "inherit"
  })
  if (result.status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
