/**
 * A child process that appends batches of BATCH events to a few streams of a shared SQLite file as
 * fast as it can, printing the number of committed batches, until it is killed.
 * Usage: node --import tsx test/support/appendWorker.ts <db file> <batch size>
 */
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { EventStore } from "../../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../../src/layers/eventstore/EventStoreSqlite.ts"

const [filename, batchArg] = process.argv.slice(2)
if (!filename || !batchArg) throw new Error("usage: appendWorker <db> <batch size>")
const batchSize = Number(batchArg)
const timestamp = new Date().toISOString()

const program = Effect.gen(function* () {
  const store = yield* EventStore
  for (let batch = 0; ; batch++) {
    const batchId = randomUUID()
    yield* store.append(
      `crash-${batch % 4}`,
      "any",
      Array.from({ length: batchSize }, (_, i) => ({
        eventId: randomUUID(),
        type: "Filled",
        data: { batchId, index: i, padding: "x".repeat(200) },
        metadata: { timestamp }
      }))
    )
    console.log(`committed ${batch + 1}`)
    // Let the event loop flush stdout so the parent sees progress.
    yield* Effect.yieldNow
  }
}).pipe(Effect.scoped, Effect.provide(layerSqlite({ filename })))

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
