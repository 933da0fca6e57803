import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync, statSync } from "node:fs"
import { join } from "node:path"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { tempDataDir } from "./support/server.ts"

const mode = (file: string) => statSync(file).mode & 0o777

describe("the SQLite store's files", () => {
  it.effect(
    "the database and its -wal and -shm files are readable by their owner only, whatever the umask",
    () => {
      const filename = join(tempDataDir(), "focusforge.db")
      const previous = process.umask(0)
      return Effect.gen(function* () {
        const store = yield* EventStore
        yield* store.append("files-1", "noStream", [
          {
            eventId: randomUUID(),
            type: "Created",
            data: { secret: "hash" },
            metadata: { timestamp: new Date().toISOString() }
          }
        ])
        // The -wal and -shm files exist while the database is open.
        for (const file of [filename, `${filename}-wal`, `${filename}-shm`]) {
          expect(existsSync(file), file).toBe(true)
          expect(mode(file), file).toBe(0o600)
        }
      }).pipe(
        Effect.provide(layerSqlite({ filename })),
        Effect.ensuring(Effect.sync(() => process.umask(previous)))
      )
    }
  )
})
