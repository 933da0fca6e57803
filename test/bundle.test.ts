/**
 * `npm start` runs the esbuild bundle (`scripts/start.mjs` → `dist/main.mjs`) and rebuilds it first when
 * it is stale. Stale means: the contents of `src/`, `package.json`, the lockfile, `tsconfig.json` or the
 * bundler differ from what the bundle was made of. Not mtimes: a checkout that keeps the contents never
 * rebuilds. Run on a copy of the project's inputs in a scratch directory (node_modules linked), so the
 * real `dist/` is never touched.
 */
import { execFile, spawn } from "node:child_process"
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync
} from "node:fs"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const execFileAsync = promisify(execFile)
const ROOT = new URL("..", import.meta.url).pathname

let copy = ""
const check = () =>
  execFileAsync(process.execPath, [join(copy, "scripts/bundle.mjs"), "--check"]).then(
    () => "fresh" as const,
    (error: { code?: number }) => (error.code === 1 ? ("stale" as const) : Promise.reject(error))
  )
const build = () => execFileAsync(process.execPath, [join(copy, "scripts/bundle.mjs")], { encoding: "utf8" })

beforeAll(() => {
  mkdirSync(join(ROOT, ".stack"), { recursive: true })
  copy = mkdtempSync(join(ROOT, ".stack", "bundle-"))
  for (const entry of ["src", "scripts", "package.json", "package-lock.json", "tsconfig.json"]) {
    cpSync(join(ROOT, entry), join(copy, entry), { recursive: true })
  }
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"))
})

afterAll(() => {
  rmSync(copy, { recursive: true, force: true })
})

describe("the bundle npm start runs", () => {
  it("is stale until built, fresh after, and stays fresh when only mtimes change", async () => {
    expect(await check()).toBe("stale")
    const { stdout } = await build()
    expect(stdout).toMatch(/^bundled dist\/main\.mjs, dist\/worker\.mjs/)
    expect(statSync(join(copy, "dist/main.mjs")).size).toBeGreaterThan(0)
    expect(await check()).toBe("fresh")
    const later = new Date(Date.now() + 60_000)
    utimesSync(join(copy, "src/main.ts"), later, later)
    utimesSync(join(copy, "package-lock.json"), later, later)
    expect(await check()).toBe("fresh")
  }, 120_000)

  it("is stale after a change to a source, the lockfile or the TypeScript config", async () => {
    for (const file of ["src/main.ts", "package-lock.json", "tsconfig.json"]) {
      const path = join(copy, file)
      const original = readFileSync(path, "utf8")
      writeFileSync(path, `${original}\n`)
      expect(await check(), file).toBe("stale")
      writeFileSync(path, original)
      expect(await check(), file).toBe("fresh")
    }
  }, 120_000)

  it("npm start's script rebuilds a stale bundle, then serves from it", async () => {
    const path = join(copy, "src/main.ts")
    writeFileSync(path, `${readFileSync(path, "utf8")}// edited\n`)
    expect(await check()).toBe("stale")
    const dataDir = mkdtempSync(join(copy, "data-"))
    // As `npm start` runs it: plain node on scripts/start.mjs, no tsx loader.
    const child = spawn(process.execPath, [join(copy, "scripts/start.mjs"), "main"], {
      cwd: copy,
      env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "Info" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString()
    })
    const exited = new Promise((resolve) => child.once("exit", resolve))
    try {
      const deadline = Date.now() + 60_000
      const listeningOn = () => /Listening on http:\/\/[^:]+:(\d+)/.exec(output)?.[1]
      while (listeningOn() === undefined) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`did not start:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(output).toMatch(/rebuilt dist\/ in \d+ ms \(sources changed\)/)
      const base = `http://127.0.0.1:${listeningOn()}`
      const reply = await fetch(`${base}/health/live`)
      expect(reply.status).toBe(200)
      // The lazily loaded parts work from the bundle too: zxcvbn's dictionaries (a chunk) and argon2's
      // native addon (left to node_modules).
      const post = (path: string, body: unknown) =>
        fetch(`${base}/api/v1/auth/${path}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body)
        })
      const account = { email: "bundle@example.com", password: "correct horse battery" }
      expect((await post("register", { ...account, display_name: "Bundle" })).status).toBe(201)
      expect((await post("login", account)).status).toBe(200)
      const weak = await post("register", {
        email: "weak@example.com",
        password: "12345678",
        display_name: "W"
      })
      expect(weak.status).toBe(422)
      expect(await check()).toBe("fresh")
    } finally {
      child.kill("SIGTERM")
      await exited
    }
  }, 120_000)
})
