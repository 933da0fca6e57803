import { Schema } from "effect"
import { randomUUID } from "node:crypto"
import { compiledMake, Timestamp } from "../src/domain/common.ts"

const fields = {
  task_id: Schema.String.check(Schema.isUUID()).pipe(Schema.brand("TaskId")),
  user_id: Schema.String.check(Schema.isUUID()).pipe(Schema.brand("UserId")),
  block_id: Schema.String.check(Schema.isUUID()).pipe(Schema.brand("BlockId")),
  effort_rating: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 })),
  at: Timestamp
}
const shipped = Schema.TaggedStruct("BlockCompleted", fields)
const compiled = compiledMake(Schema.TaggedStruct("BlockCompleted", fields))
const viaDecode = Schema.decodeSync(Schema.toType(Schema.TaggedStruct("BlockCompleted", fields)))
type In = { task_id: typeof shipped.Type.task_id; user_id: typeof shipped.Type.user_id; block_id: typeof shipped.Type.block_id; effort_rating: number; at: Date }
const inputs: Array<In> = Array.from({ length: 20_000 }, () => ({
  task_id: randomUUID() as In["task_id"],
  user_id: randomUUID() as In["user_id"],
  block_id: randomUUID() as In["block_id"],
  effort_rating: 7,
  at: new Date()
}))
const median = (v: Array<number>) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!
const measure = (f: (i: In) => unknown, calls: number) => {
  for (let i = 0; i < 2000; i++) f(inputs[i]!)
  const r: Array<number> = []
  for (let k = 0; k < 7; k++) {
    const t = performance.now()
    for (let i = 0; i < calls; i++) f(inputs[i % inputs.length]!)
    r.push(((performance.now() - t) * 1000) / calls)
  }
  return median(r)
}
for (let rep = 0; rep < 2; rep++) {
  console.log("literal", measure((i) => ({ _tag: "BlockCompleted", ...i }), 20000).toFixed(3))
  console.log("shipped make", measure((i) => shipped.make(i), 20000).toFixed(3))
  console.log("compiledMake", measure((i) => compiled.make(i), 20000).toFixed(3))
  console.log("decodeSync(toType)", measure((i) => viaDecode({ _tag: "BlockCompleted", ...i }), 20000).toFixed(3))
}
