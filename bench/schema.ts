/**
 * What a domain constructor costs: `Schema.TaggedStruct(...).make` as Effect ships it, against the same
 * struct through `compiledMake` (src/domain/common.ts), and against building the object by hand. The
 * struct is the shape of the domain's events: branded ids, a refined number and a `Timestamp`
 * (`Schema.DateFromString`, a transformation). Writes its section into BENCHMARKS.md.
 */
import { Schema } from "effect"
import { randomUUID } from "node:crypto"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { cpus, totalmem } from "node:os"
import { compiledMake, Timestamp } from "../src/domain/common.ts"

/** v3's `Schema.UUID`: a string with a UUID pattern check. */
const UUID = Schema.String.check(Schema.isUUID())

const fields = {
  task_id: UUID.pipe(Schema.brand("TaskId")),
  user_id: UUID.pipe(Schema.brand("UserId")),
  block_id: UUID.pipe(Schema.brand("BlockId")),
  effort_rating: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 })),
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
    label: "`compiledMake(TaggedStruct).make` (validated, parser compiled once, readable error)",
    us: measure((i) => compiled.make(i), 20_000)
  },
  {
    label: "`TaggedStruct.make` as shipped (validated; Effect 4 compiles its parser once too)",
    us: measure((i) => shipped.make(i), 1_000)
  }
]
const slowest = rows[2]!.us

const section = `<!-- schema:start -->
## Domain constructors (\`bench/schema.ts\`)

\`npx tsx bench/schema.ts\`. One process; a struct shaped like the domain's events (three branded UUIDs, a
refined integer, a \`Timestamp\` = \`Schema.DateFromString\`); each row is the median over ${ROUNDS} rounds of µs per call
after a warm-up.

| constructor | µs per call | × faster than shipped \`make\` |
|---|---:|---:|
${rows.map((row) => `| ${row.label} | ${row.us.toFixed(2)} | ${(slowest / row.us).toFixed(1)} |`).join("\n")}

Why: on Effect 3, \`make\` validated through \`ParseResult.validateSync(schema)\`, which derived the type side
of the schema (\`SchemaAST.typeAST\`) on every call; a struct with a transformed field got a new type-side AST
object each time, missed the parser memo (a \`WeakMap\` keyed by AST) and compiled a parser per call, and
\`compiledMake\` derived the type side once. Effect 4's \`make\` compiles its parser once per schema, so the
last two rows should cost the same; \`compiledMake\` (\`SchemaParser.make\` of the schema) remains for its
error: a \`Schema.SchemaError\` naming the field and the rule, where v4's \`make\` throws a plain
\`Error("Schema validation failed")\`. Every command and event of the domain has a \`Timestamp\`; a completed
block makes four of them.

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
