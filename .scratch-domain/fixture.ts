import { DatabaseSync } from "node:sqlite"
import { Schema } from "effect"
import { AccountDecider, EmailClaimDecider } from "../src/domain/account.ts"
import { MoodDecider } from "../src/domain/mood.ts"
import { TaskDecider } from "../src/domain/task.ts"
import { WalletDecider } from "../src/domain/wallet.ts"
import { ActionDecider } from "../src/domain/planner.ts"
import { MemoryRecorded } from "../src/domain/memory.ts"

const db = new DatabaseSync("test/fixtures/store-v1/focusforge.db", { readOnly: true })
const schemas: Record<string, { event: Schema.Codec<unknown, unknown>; state?: Schema.Codec<unknown, unknown> }> = {
  account: AccountDecider as never,
  email: EmailClaimDecider as never,
  mood: MoodDecider as never,
  task: TaskDecider as never,
  wallet: WalletDecider as never,
  planaction: ActionDecider as never,
  memory: { event: MemoryRecorded as never }
}
let ok = 0
let bad = 0
const check = (kind: string, schema: Schema.Codec<unknown, unknown>, text: string, id: string) => {
  try {
    const value = Schema.decodeUnknownSync(schema)(JSON.parse(text))
    const again = JSON.stringify(Schema.encodeSync(schema)(value))
    if (again !== text) {
      bad++
      console.log("DIFF", kind, id, "\n  stored ", text.slice(0, 400), "\n  encoded", again.slice(0, 400))
    } else ok++
  } catch (e) {
    bad++
    console.log("FAIL", kind, id, String(e).slice(0, 600))
  }
}
for (const row of db.prepare("SELECT stream_id, type, data FROM events").all() as Array<{ stream_id: string; type: string; data: string }>) {
  const s = schemas[row.stream_id.split("-")[0]!]
  if (s) check(`event ${row.type}`, s.event, row.data, row.stream_id)
}
for (const row of db.prepare("SELECT stream_id, state FROM snapshots").all() as Array<{ stream_id: string; state: string }>) {
  const s = schemas[row.stream_id.split("-")[0]!]
  if (s?.state) check("snapshot", s.state, row.state, row.stream_id)
  else console.log("no schema for snapshot", row.stream_id)
}
console.log({ ok, bad })
