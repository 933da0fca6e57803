import { readFileSync } from "node:fs"
import { Schema } from "effect"
import { AccountDecider, EmailClaimDecider } from "../src/domain/account.ts"
import { MoodDecider } from "../src/domain/mood.ts"
import { TaskDecider, TaskCommand } from "../src/domain/task.ts"
import { WalletDecider, WalletCommand } from "../src/domain/wallet.ts"
import { ActionDecider } from "../src/domain/planner.ts"
import { MemoryRecorded } from "../src/domain/memory.ts"
const all: Record<string, any> = {
  "account.event": AccountDecider.event, "account.state": AccountDecider.state,
  "email.event": EmailClaimDecider.event, "email.state": EmailClaimDecider.state,
  "mood.event": MoodDecider.event, "mood.state": MoodDecider.state,
  "task.event": TaskDecider.event, "task.state": TaskDecider.state,
  "wallet.event": WalletDecider.event, "wallet.state": WalletDecider.state,
  "planaction.event": ActionDecider.event, "planaction.state": ActionDecider.state,
  "memory.event": MemoryRecorded, "task.command": TaskCommand, "wallet.command": WalletCommand
}
const samples = JSON.parse(readFileSync("/tmp/e4domain-v3samples.json", "utf8")) as Record<string, string[]>
for (const [k, texts] of Object.entries(samples)) {
  let ok = 0, diff = 0, fail = 0
  for (const t of texts) {
    try {
      const v = Schema.decodeUnknownSync(all[k])(JSON.parse(t))
      const again = JSON.stringify(Schema.encodeSync(all[k])(v))
      if (again === t) ok++
      else { diff++; if (diff < 3) { const a = JSON.parse(t), b = JSON.parse(again); console.log("DIFF", k, t.length, again.length, JSON.stringify(a.revoked_tokens ?? a.rewards), "\n", JSON.stringify(b.revoked_tokens ?? b.rewards)) } }
    } catch (e) { fail++; if (fail < 3) console.log("FAIL", k, t.slice(0, 300), String(e).slice(0, 400)) }
  }
  console.log(k, { ok, diff, fail })
}
