import { Arbitrary, Effect, Schema } from "effect"
import { writeFileSync } from "node:fs"
import { AccountDecider, EmailClaimDecider } from "../src/domain/account.ts"
import { MoodDecider } from "../src/domain/mood.ts"
import { TaskDecider, TaskCommand } from "../src/domain/task.ts"
import { WalletDecider, WalletCommand } from "../src/domain/wallet.ts"
import { ActionDecider } from "../src/domain/planner.ts"
import { MemoryRecorded } from "../src/domain/memory.ts"

const all: Record<string, Schema.Codec<unknown, unknown>> = {
  "account.event": AccountDecider.event as never, "account.state": AccountDecider.state as never,
  "email.event": EmailClaimDecider.event as never, "email.state": EmailClaimDecider.state as never,
  "mood.event": MoodDecider.event as never, "mood.state": MoodDecider.state as never,
  "task.event": TaskDecider.event as never, "task.state": TaskDecider.state as never,
  "wallet.event": WalletDecider.event as never, "wallet.state": WalletDecider.state as never,
  "planaction.event": ActionDecider.event as never, "planaction.state": ActionDecider.state as never,
  "memory.event": MemoryRecorded as never,
  "task.command": TaskCommand as never, "wallet.command": WalletCommand as never
}
const out: Record<string, Array<string>> = {}
for (const [k, s] of Object.entries(all)) {
  const values = Effect.runSync(Arbitrary.sampleEffect(Arbitrary.schema(s), { count: 300, seed: 42 }))
  out[k] = values.map((v) => JSON.stringify(Schema.encodeSync(s)(v)))
}
writeFileSync("/tmp/e4domain-samples.json", JSON.stringify(out))
console.log(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.length])))
console.log(out["wallet.event"]!.slice(0, 3), out["task.state"]![5])
