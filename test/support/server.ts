import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const ROOT = new URL("../..", import.meta.url).pathname

export interface ServerProcess {
  readonly url: string
  readonly port: number
  readonly dataDir: string
  readonly child: ChildProcess
  /** Every line the process wrote, stdout and stderr, in order. */
  readonly output: () => string
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | string>
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | string>
}

export const tempDataDir = (): string => mkdtempSync(join(tmpdir(), "focusforge-test-"))

export interface ChildRun {
  readonly child: ChildProcess
  /** Every line the process wrote, stdout and stderr, in order. */
  readonly output: () => string
  readonly exited: Promise<number | string>
}

/** Runs a TypeScript file of this repository (through tsx) as a real child process. */
export const runScript = (
  script: string,
  args: ReadonlyArray<string> = [],
  env: Record<string, string> = {}
): ChildRun => {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: "Info", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.stderr?.on("data", (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise<number | string>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  })
  return { child, output: () => output, exited }
}

/** Resolves once the child has written `text`; fails if it exits first or the time runs out. */
export const waitForOutput = async (child: ChildRun, text: string, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs
  while (!child.output().includes(text)) {
    if (child.child.exitCode !== null) throw new Error(`child exited before "${text}":\n${child.output()}`)
    if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}":\n${child.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Runs an entry point of the app as a real child process. */
export const runEntry = (
  entry: "src/main.ts" | "src/worker.ts" | "test/support/testServer.ts" | "examples/custom-chain.ts",
  env: Record<string, string> = {}
): ChildRun => runScript(entry, [], env)

/**
 * Starts the real server on a random port (PORT=0) and waits until it logs its address.
 * DATA_DIR defaults to a fresh temporary directory.
 */
export const startServer = async (
  env: Record<string, string> = {},
  options: {
    readonly entry?: "src/main.ts" | "test/support/testServer.ts" | "examples/custom-chain.ts"
    readonly timeoutMs?: number
  } = {}
): Promise<ServerProcess> => {
  const timeoutMs = options.timeoutMs ?? 90_000
  const dataDir = env.DATA_DIR ?? tempDataDir()
  const { child, output, exited } = runEntry(options.entry ?? "src/main.ts", {
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    // Test clients register many accounts from 127.0.0.1; test/login.http.test.ts sets its own limit.
    REGISTER_MAX_PER_ADDRESS: "100000",
    ...env
  })
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in ${timeoutMs} ms:\n${output()}`)),
      timeoutMs
    )
    const poll = setInterval(() => {
      const match = /Listening on http:\/\/[^:]+:(\d+)/.exec(output())
      if (match?.[1]) {
        clearInterval(poll)
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    }, 20)
    void exited.then((code) => {
      clearInterval(poll)
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening:\n${output()}`))
    })
  })
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    child,
    output,
    exited,
    stop: (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    }
  }
}
