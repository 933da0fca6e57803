/**
 * What a domain constructor costs: `Schema.TaggedStruct(...).make` as Effect ships it, against the same
 * struct through `compiledMake` (src/domain/common.ts), and against building the object by hand. The
 * struct is the shape of the domain's events: branded ids, a refined number and a `Timestamp`
 * (`Schema.Date`, a transformation). Writes its section into BENCHMARKS.md.
 */
import { Schema } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { compiledMake, Timestamp } from "../src/domain/common.ts"

const fields = {
  task_id: Schema.UUID.pipe(Schema.brand("TaskId")),
  user_id: Schema.UUID.pipe(Schema.brand("UserId")),
  block_id: Schema.UUID.pipe(Schema.brand("BlockId")),
  effort_rating: Schema.Int.pipe(Schema.between(1, 10)),
  at: Timestamp
}
const shipped = Schema.TaggedStruct("BlockCompleted", fields)
const compiled = compiledMake(Schema.TaggedStruct("BlockCompleted", fields))

const inputs = Array.from({ length: 20_000 }, () => ({
  task_id: randomUUID() as typeof shipped.Type.task_id,
  user_id: randomUUID() as typeof shipped.Type.user_id,
  block_id: randomUUID() as typeof shipped.Type.block_id,
  effort_rating: 7,
  at: new Date()
}))

const ROUNDS = 5
const median = (values: ReadonlyArray<number>) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** Median over rounds of µs per call; `calls` per round (fewer for the slow row). */
const measure = (make: (input: (typeof inputs)[number]) => unknown, calls: number): number => {
  for (let i = 0; i < Math.min(calls, 2_000); i++) make(inputs[i]!)
  const rounds: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now()
    for (let i = 0; i < calls; i++) make(inputs[i % inputs.length]!)
    rounds.push(((performance.now() - started) * 1000) / calls)
  }
  return median(rounds)
}

const rows = [
  {
    label: "object literal (no validation, the floor)",
    us: measure((i) => ({ _tag: "BlockCompleted", ...i }), 20_000)
  },
  {
    label: "`compiledMake(TaggedStruct).make` (validated, parser compiled once)",
    us: measure((i) => compiled.make(i), 20_000)
  },
  {
    label: "`TaggedStruct.make` as shipped (validated, parser compiled per call)",
    us: measure((i) => shipped.make(i), 1_000)
  }
]
const slowest = rows[2]!.us

const section = `<!-- schema:start -->
## Domain constructors (\`bench/schema.ts\`)

\`npx tsx bench/schema.ts\`. One process; a struct shaped like the domain's events (three branded UUIDs, a
refined integer, a \`Timestamp\` = \`Schema.Date\`); each row is the median over ${ROUNDS} rounds of µs per call
after a warm-up.

| constructor | µs per call | × faster than shipped \`make\` |
|---|---:|---:|
${rows.map((row) => `| ${row.label} | ${row.us.toFixed(2)} | ${(slowest / row.us).toFixed(1)} |`).join("\n")}

Why: \`make\` validates through \`ParseResult.validateSync(schema)\`, which derives the type side of the
schema (\`SchemaAST.typeAST\`) on every call. A struct with a transformed field gets a new type-side AST object
each time, which misses the parser memo (a \`WeakMap\` keyed by AST), so every call compiles a parser.
Every command and event of the domain has a \`Timestamp\`; a completed block makes four of them. The
domain's structs are built with \`compiledMake\`, which derives the type side once.

Machine: ${cpus()[0]?.model.trim() ?? "unknown"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.
<!-- schema:end -->`

const file = new URL("../BENCHMARKS.md", import.meta.url)
const current = existsSync(file) ? readFileSync(file, "utf8") : "# Benchmarks\n"
const marker = /<!-- schema:start -->[\s\S]*<!-- schema:end -->/
writeFileSync(
  file,
  marker.test(current) ? current.replace(marker, section) : `${current.trimEnd()}\n\n${section}\n`
)
console.log(section)
