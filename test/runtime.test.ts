import { execFileSync, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"

const ROOT = new URL("..", import.meta.url).pathname
const pkg = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as {
  readonly engines: { readonly node: string }
  readonly dependencies: Record<string, string>
  readonly devDependencies: Record<string, string>
}

describe("the runtime is the Node the project pins", () => {
  it("the test worker runs the exact version of the `node` devDependency, at or above the engines floor", () => {
    // The nested binary package the `node` package installs is not in the lockfile: this is its check.
    expect(process.versions.node).toBe(pkg.devDependencies.node)
    const floor = /^>=(\d+)\.(\d+)\.(\d+)$/.exec(pkg.engines.node)
    expect(floor).not.toBeNull()
    const [major, minor] = process.versions.node.split(".").map(Number) as [number, number]
    expect(major > Number(floor?.[1]) || (major === Number(floor?.[1]) && minor >= Number(floor?.[2]))).toBe(
      true
    )
    expect(readFileSync(`${ROOT}.nvmrc`, "utf8").trim()).toBe(pkg.devDependencies.node)
    expect(readFileSync(`${ROOT}.node-version`, "utf8").trim()).toBe(pkg.devDependencies.node)
  })

  it("children spawned through process.execPath and the `node` npm scripts find first on PATH are the same binary", () => {
    expect(execFileSync(process.execPath, ["-p", "process.versions.node"], { encoding: "utf8" }).trim()).toBe(
      pkg.devDependencies.node
    )
    // npm puts node_modules/.bin first on PATH for every script (and for this test run).
    expect(execFileSync("node", ["-p", "process.versions.node"], { encoding: "utf8" }).trim()).toBe(
      pkg.devDependencies.node
    )
  })

  it("node:sqlite loads without writing a warning to stderr (logs stay JSON lines)", () => {
    const run = spawnSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        'import { DatabaseSync } from "node:sqlite"; new DatabaseSync(":memory:").close()'
      ],
      { encoding: "utf8" }
    )
    expect(run.status).toBe(0)
    expect(run.stderr).toBe("")
  })

  it("no native SQLite addon is installed or depended on", () => {
    const all = { ...pkg.dependencies, ...pkg.devDependencies }
    expect(Object.keys(all)).not.toContain("better-sqlite3")
    expect(Object.keys(all)).not.toContain("@effect/sql-sqlite-node")
  })
})
