import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { EventStoreSqliteMemory, layerSqlite } from "../../src/layers/EventStoreSqlite.ts"
import { eventStoreSuite } from "./eventStoreSuite.ts"

eventStoreSuite("sqlite :memory:", EventStoreSqliteMemory)
eventStoreSuite(
  "sqlite file (WAL)",
  layerSqlite({ filename: join(mkdtempSync(join(tmpdir(), "focusforge-es-")), "focusforge.db") })
)
