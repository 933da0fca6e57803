/**
 * A child process for the multi-process tests: an actor runtime on a shared SQLite file sending
 * COUNT concurrent increments to one entity once the parent creates the GO file.
 * Usage: node --import tsx test/support/actorWorker.ts <db file> <count> <go file>
 */
import { Effect, Result } from "effect"
import { existsSync } from "node:fs"
import { layerSqlite } from "../../src/layers/eventstore/EventStoreSqlite.ts"
import { makeEntityRuntime } from "../../src/eventsourcing/EntityRuntime.ts"
import { counterDecider } from "./counter.ts"

const [filename, countArg, goFile] = process.argv.slice(2)
if (!filename || !countArg || !goFile) throw new Error("usage: actorWorker <db> <count> <go file>")
const count = Number(countArg)

const program = Effect.gen(function* () {
  const runtime = yield* makeEntityRuntime(counterDecider, { maxConflictRetries: 100 })
  // A first command before the race opens the store and runs the actor's code paths once; its actor
  // stops again at once (the stream is still empty: no actor is kept for a stream without events).
  yield* runtime.send("shared", { _tag: "Noop" })
  console.log("ready")
  while (!existsSync(goFile)) yield* Effect.sleep("5 millis")
  const results = yield* Effect.forEach(
    Array.from({ length: count }),
    () =>
      Effect.result(
        runtime.send("shared", { _tag: "Increment" }, { correlationId: `worker-${process.pid}` })
      ),
    { concurrency: "unbounded" }
  )
  const failures = results.filter(Result.isFailure).map((r) => String(r.failure))
  console.log(JSON.stringify({ ok: results.length - failures.length, failures: failures.slice(0, 5) }))
  console.log(`conflict retries: ${(yield* runtime.stats).conflictRetries}`)
}).pipe(Effect.scoped, Effect.provide(layerSqlite({ filename })))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
