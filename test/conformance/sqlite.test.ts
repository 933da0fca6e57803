import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EventStoreSqliteMemory, layerSqlite } from "../../src/layers/eventstore/EventStoreSqlite.ts"
import { eventStoreSuite } from "./eventStoreSuite.ts"
import { readModelSuite } from "./readModelSuite.ts"
import { subscriptionSuite } from "./subscriptionSuite.ts"

const freshFile = () => join(mkdtempSync(join(tmpdir(), "focusforge-es-")), "focusforge.db")

eventStoreSuite("sqlite :memory:", EventStoreSqliteMemory)
eventStoreSuite("sqlite file (WAL)", layerSqlite({ filename: freshFile() }))

readModelSuite("sqlite :memory:", { fresh: () => layerSqlite({ filename: ":memory:" }) })
readModelSuite("sqlite file (WAL)", {
  fresh: () => layerSqlite({ filename: freshFile() }),
  reopenable: () => {
    const filename = freshFile()
    return () => layerSqlite({ filename })
  }
})

subscriptionSuite("sqlite file (WAL)", {
  reopenable: () => {
    const filename = freshFile()
    return () => layerSqlite({ filename })
  }
})
