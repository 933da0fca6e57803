import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { closeSync, openSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { layerSqlite } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { type ChildRun, runScript, tempDataDir, waitForOutput } from "./support/server.ts"

const openers = (filename: string, goFile: string, count: number) =>
  Array.from({ length: count }, () => runScript("test/support/openStoreWorker.ts", [filename, goFile]))

const expectAllOpenedAndWrote = async (filename: string, children: ReadonlyArray<ChildRun>) => {
  const codes = await Promise.all(children.map((child) => child.exited))
  expect(codes, children.map((child) => child.output()).join("\n")).toEqual(children.map(() => 0))
  const events = await Effect.runPromise(
    Effect.flatMap(EventStore, (store) => Stream.runCollect(store.readAll())).pipe(
      Effect.scoped,
      Effect.provide(layerSqlite({ filename }))
    )
  )
  expect(new Set(events.map((event) => event.streamId)).size).toBe(children.length)
  const db = new DatabaseSync(filename)
  expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" })
  expect(db.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" })
  db.close()
}

describe("several processes opening one fresh SQLite store at once", () => {
  it("a process that finds another one switching the new file to WAL waits for it instead of failing", async () => {
    const dir = tempDataDir()
    const filename = join(dir, "focusforge.db")
    const goFile = join(dir, "go")
    // The first opener's switch to WAL writes the file header in a rollback-journal transaction.
    // Holding that lock here, for longer, is the moment another opener can hit; SQLite answers it
    // SQLITE_BUSY at once, without waiting for the busy timeout.
    closeSync(openSync(filename, "a", 0o600))
    const holder = new DatabaseSync(filename)
    holder.exec("BEGIN IMMEDIATE")
    const children = openers(filename, goFile, 3)
    try {
      await Promise.all(children.map((child) => waitForOutput(child, "ready")))
      writeFileSync(goFile, "")
      await Promise.all(children.map((child) => waitForOutput(child, "opening")))
      await new Promise((resolve) => setTimeout(resolve, 400))
    } finally {
      holder.exec("ROLLBACK")
      holder.close()
    }
    await expectAllOpenedAndWrote(filename, children)
  }, 90_000)

  it("eight processes released together on a file that does not exist yet all open it and write", async () => {
    const dir = tempDataDir()
    const filename = join(dir, "focusforge.db")
    const goFile = join(dir, "go")
    const children = openers(filename, goFile, 8)
    await Promise.all(children.map((child) => waitForOutput(child, "ready")))
    writeFileSync(goFile, "")
    await expectAllOpenedAndWrote(filename, children)
  }, 90_000)
})
