import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, normalize, relative } from "node:path"
import { describe, expect, it } from "vitest"

const SRC = new URL("../src/", import.meta.url).pathname
/** Static `import … from "./x"` and `export … from "./x"`, type-only ones included: a cycle of types is a cycle to read. */
const RELATIVE_IMPORT = /(?:^|\n)\s*(?:import|export)[^"'\n;]*?from\s*["'](\.{1,2}\/[^"']+)["']/g

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : []
  )

const importGraph = (): Map<string, ReadonlyArray<string>> => {
  const graph = new Map<string, ReadonlyArray<string>>()
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8")
    graph.set(
      file,
      [...text.matchAll(RELATIVE_IMPORT)].map((m) => normalize(join(dirname(file), m[1] as string)))
    )
  }
  return graph
}

const cyclesOf = (graph: Map<string, ReadonlyArray<string>>): Array<string> => {
  const state = new Map<string, "open" | "done">()
  const found: Array<string> = []
  const visit = (file: string, path: Array<string>) => {
    state.set(file, "open")
    path.push(file)
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue
      if (state.get(next) === "open") {
        found.push([...path.slice(path.indexOf(next)), next].map((f) => relative(SRC, f)).join(" -> "))
      } else if (!state.has(next)) visit(next, path)
    }
    path.pop()
    state.set(file, "done")
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file, [])
  return found
}

describe("the source layout", () => {
  it("has no import cycles in src/ (dynamic imports, which load on demand, aside)", () => {
    const graph = importGraph()
    expect(graph.size).toBeGreaterThan(100)
    expect(cyclesOf(graph)).toEqual([])
  })

  it("finds a cycle when there is one (the check itself)", () => {
    const a = join(SRC, "a.ts")
    const b = join(SRC, "b.ts")
    expect(
      cyclesOf(
        new Map([
          [a, [b]],
          [b, [a]]
        ])
      )
    ).toEqual(["a.ts -> b.ts -> a.ts"])
  })
})
