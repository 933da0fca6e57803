/**
 * The start-up errors README promises are the ones the server prints: each row of README's "Start-up
 * errors" table is an environment and the last line start-up must print before exiting 1, checked by
 * starting the real server with it. Every other `Invalid configuration:` message README quotes must be
 * one of those rows (`…` standing for the value).
 */
import { readFileSync } from "node:fs"
import { describe, expect, it } from "vitest"
import { runEntry, tempDataDir } from "./support/server.ts"

const README = readFileSync(new URL("../README.md", import.meta.url), "utf8")

interface Row {
  readonly env: Record<string, string>
  readonly label: string
  readonly message: string
}

/** The rows of the table under `### Start-up errors`. */
const startupErrorRows = (readme: string): ReadonlyArray<Row> => {
  const start = readme.indexOf("\n### Start-up errors\n")
  if (start === -1) throw new Error('README has no "### Start-up errors" section')
  const rest = readme.slice(start + 1)
  const end = rest.slice(1).search(/\n#{1,3} /)
  const section = end === -1 ? rest : rest.slice(0, end + 1)
  return section
    .split("\n")
    .map((line) => /^\| `([^`]+)` \| `([^`]+)` \|$/.exec(line))
    .flatMap((match) => {
      if (match?.[1] === undefined || match[2] === undefined) return []
      const label = match[1]
      const env = Object.fromEntries(
        label.split(" ").map((assignment) => {
          const equals = assignment.indexOf("=")
          return [assignment.slice(0, equals), assignment.slice(equals + 1)]
        })
      )
      return [{ env, label, message: match[2] }]
    })
}

/** Every `Invalid configuration: …` quoted in README, a line break inside the quote read as a space. */
const quotedMessages = (readme: string): ReadonlyArray<string> =>
  [...readme.matchAll(/`(Invalid configuration:[^`]+)`/g)].map((match) =>
    (match[1] ?? "").replace(/\s+/g, " ")
  )

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** A quoted message as a pattern: `…` is the value the reader fills in. */
const asPattern = (quoted: string) => new RegExp(`^${quoted.split("…").map(escapeRegExp).join('[^"]*')}$`)

/** Node's own process warnings (stderr) are not the server's lines. */
const serverLines = (output: string) =>
  output
    .split("\n")
    .map((line) => line.trimEnd())
    .filter((line) => line !== "" && !line.startsWith("(node:") && !line.startsWith("(Use `node"))

// Each row starts a real process: a few at a time, not all at once on a small machine.
let free = 3
const waiting: Array<() => void> = []
const withSlot = async <A>(task: () => Promise<A>): Promise<A> => {
  if (free === 0) await new Promise<void>((resolve) => waiting.push(resolve))
  else free -= 1
  try {
    return await task()
  } finally {
    const next = waiting.shift()
    if (next === undefined) free += 1
    else next()
  }
}

const rows = startupErrorRows(README)

describe("README's start-up errors", () => {
  it("lists a dozen or more, and every message README quotes elsewhere is one of them", () => {
    expect(rows.length).toBeGreaterThanOrEqual(12)
    const messages = rows.map((row) => row.message)
    const unmatched = quotedMessages(README).filter(
      (quoted) => !messages.some((message) => asPattern(quoted).test(message))
    )
    expect(unmatched).toEqual([])
  })

  it.concurrent.each(rows.map((row) => [row.label, row] as const))(
    "%s",
    async (_label, row) => {
      const output = await withSlot(async () => {
        const run = runEntry("src/main.ts", {
          PORT: "0",
          HOST: "127.0.0.1",
          DATA_DIR: tempDataDir(),
          LOG_FORMAT: "json",
          ...row.env
        })
        const exited = await run.exited
        return { exited, output: run.output() }
      })
      expect({ exited: output.exited, last: serverLines(output.output).at(-1) }).toEqual({
        exited: 1,
        last: row.message
      })
    },
    120_000
  )
})
