/**
 * `npm start` / `npm run worker`: runs the bundled entry point (`dist/main.mjs` or `dist/worker.mjs`),
 * rebuilding the bundles first when any source, config or the lockfile changed since they were made.
 * The bundle runs in this same process, so signals (SIGTERM drain) and the exit code are the server's.
 */
import { bundle, ENTRIES, isFresh } from "./bundle.mjs"

const entry = process.argv[2] ?? "main"
if (!(entry in ENTRIES)) {
  console.error(`unknown entry point ${entry}: one of ${Object.keys(ENTRIES).join(", ")}`)
  process.exit(2)
}
if (!isFresh()) {
  const started = performance.now()
  await bundle()
  console.error(`rebuilt dist/ in ${Math.round(performance.now() - started)} ms (sources changed)`)
}
await import(new URL(`../dist/${entry}.mjs`, import.meta.url).href)
