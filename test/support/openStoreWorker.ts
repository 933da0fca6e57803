/**
 * A child process for the first-start race tests: waits until the parent creates the GO file (polling
 * every millisecond, so every child is released within about a millisecond of the others), then opens
 * the SQLite store at FILE, which may not exist yet, and appends one event to a stream of its own.
 * Usage: node --import tsx test/support/openStoreWorker.ts <db file> <go file>
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync } from "node:fs"
import { EventStore } from "../../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../../src/layers/eventstore/EventStoreSqlite.ts"

const [filename, goFile] = process.argv.slice(2)
if (!filename || !goFile) throw new Error("usage: openStoreWorker <db> <go file>")

const pause = new Int32Array(new SharedArrayBuffer(4))
console.log("ready")
while (!existsSync(goFile)) Atomics.wait(pause, 0, 0, 1)
// Printed right before the synchronous open (pipes to the parent are written synchronously).
console.log("opening")

const program = Effect.gen(function* () {
  const store = yield* EventStore
  yield* store.append(`opener-${process.pid}`, "noStream", [
    { eventId: randomUUID(), type: "Opened", data: {}, metadata: { timestamp: new Date().toISOString() } }
  ])
  console.log("appended")
}).pipe(Effect.scoped, Effect.provide(layerSqlite({ filename })))

Effect.runPromise(program).then(
  () => process.exit(0),
  (error) => {
    console.error(String(error))
    process.exit(1)
  }
)
