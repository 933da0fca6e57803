import { copyFileSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { afterAll, describe, expect, it } from "vitest"
import {
  FIXTURE_ENV,
  FIXTURE_PASSWORD,
  type FixtureAnswers,
  stableReadPaths
} from "./fixtures/store-v1/journey.ts"
import { Schema } from "effect"
import { TaskEvent } from "../src/domain/task.ts"
import { utcDay } from "../src/domain/common.ts"
import { currentStreak } from "../src/domain/rules.ts"
import { creditFor, decideWallet, initialWalletState } from "../src/domain/wallet.ts"
import { call } from "./support/api.ts"
import { type ServerProcess, startServer, tempDataDir } from "./support/server.ts"

/*
 * `test/fixtures/store-v1/` was written by an older build (Effect 3.22 with better-sqlite3 on Node 20,
 * commit 471c3df; see its generate.ts). Stored data is forever: every build must open that file and
 * answer the same through the API.
 */
const FIXTURE = new URL("./fixtures/store-v1/", import.meta.url).pathname
const answers = JSON.parse(readFileSync(join(FIXTURE, "answers.json"), "utf8")) as FixtureAnswers

/** The UTC day the fixture's journey ran (its streak counts from it). */
const FIXTURE_DAY = "2026-12-02"

/**
 * The answer recorded on `FIXTURE_DAY`, as it must read today: a streak is current only through the
 * day after the last active one, so the profile's `streak_days` decays with the calendar, not the data.
 */
const asOfToday = (path: string, recorded: unknown): unknown => {
  if (path !== "/api/v1/store/profile" || typeof recorded !== "object" || recorded === null) return recorded
  const profile = recorded as { readonly streak_days: number }
  return { ...profile, streak_days: currentStreak(FIXTURE_DAY, profile.streak_days, utcDay(new Date())) }
}

describe("a store written by the previous build", () => {
  const running: Array<ServerProcess> = []
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop()))
  })

  it("holds events and snapshots of the task, wallet, mood and account aggregates", () => {
    // A copy: even a read-only open of a WAL database creates its -shm file beside it.
    const copy = join(tempDataDir(), "focusforge.db")
    copyFileSync(join(FIXTURE, "focusforge.db"), copy)
    const db = new DatabaseSync(copy, { readOnly: true })
    try {
      const kinds = (
        db.prepare("SELECT stream_id FROM snapshots").all() as unknown as Array<{ stream_id: string }>
      ).map((row) => row.stream_id.split("-")[0])
      expect(new Set(kinds)).toEqual(new Set(["task", "wallet", "mood", "account"]))
      const types = db.prepare("SELECT DISTINCT type FROM events").all() as unknown as Array<{ type: string }>
      expect(types.length).toBeGreaterThanOrEqual(20)
    } finally {
      db.close()
    }
  })

  it("its completions (recorded before the pay rule, without a start) decode and credit what they paid then", () => {
    const copy = join(tempDataDir(), "focusforge.db")
    copyFileSync(join(FIXTURE, "focusforge.db"), copy)
    const db = new DatabaseSync(copy, { readOnly: true })
    try {
      const rows = db
        .prepare("SELECT data FROM events WHERE type = 'BlockCompleted'")
        .all() as unknown as Array<{ data: string }>
      expect(rows.length).toBeGreaterThanOrEqual(3)
      for (const row of rows) {
        const event = Schema.decodeUnknownSync(TaskEvent)(JSON.parse(row.data))
        if (event._tag !== "BlockCompleted") throw new Error("not a completion")
        expect(event.started_at).toBeUndefined()
        // Should the credit process manager meet one unpaid, the wallet pays what the task recorded.
        const credited = decideWallet(initialWalletState, creditFor(event))
        if (credited._tag !== "Success") throw new Error("credit refused")
        expect(credited.success[0]).toMatchObject({ _tag: "TokensEarned", amount: event.tokens_earned })
      }
    } finally {
      db.close()
    }
  })

  it("is opened by this build: its password logs in (scrypt, rehashed), every read answers the same, new commands apply", async () => {
    const dataDir = tempDataDir()
    copyFileSync(join(FIXTURE, "focusforge.db"), join(dataDir, "focusforge.db"))
    // No background jobs: the planner would run the fixture's due actions and change their answers.
    const server = await startServer({ DATA_DIR: dataDir, BACKGROUND_JOBS: "worker", ...FIXTURE_ENV })
    running.push(server)

    // Tokens of the previous build carry no kid/iss/aud: refused after the upgrade (README), revoked or not.
    for (const old of [answers.token, answers.revokedToken]) {
      expect((await call(server.url, "GET", "/api/v1/auth/me", { token: old })).status).toBe(401)
    }
    // Its scrypt password hash still verifies (and is rehashed to argon2id: the second login proves the new hash).
    for (let i = 0; i < 2; i++) {
      const login = await call(server.url, "POST", "/api/v1/auth/login", {
        body: { email: "fixture-ann@example.com", password: FIXTURE_PASSWORD }
      })
      expect(login.status).toBe(200)
    }
    const db = new DatabaseSync(join(dataDir, "focusforge.db"), { readOnly: true })
    try {
      const rehashed = db.prepare("SELECT data FROM events WHERE type = 'PasswordRehashed'").all()
      expect(rehashed).toHaveLength(1)
      expect(String(rehashed[0]?.data)).toContain("$argon2id$")
    } finally {
      db.close()
    }
    const login = await call(server.url, "POST", "/api/v1/auth/login", {
      body: { email: "fixture-ann@example.com", password: FIXTURE_PASSWORD }
    })
    const token = (login.json() as { access_token: string }).access_token

    for (const path of stableReadPaths(answers)) {
      const reply = await call(server.url, "GET", path, { token })
      expect({ path, status: reply.status }).toEqual({ path, status: 200 })
      expect(reply.json()).toEqual(asOfToday(path, answers.reads[path]))
    }
    expect((await call(server.url, "GET", `/api/v1/tasks/${answers.deletedTaskId}`, { token })).status).toBe(
      404
    )

    // The stored state goes on: the report's second block completes the task and pays the wallet.
    const reportId = answers.taskIds[0] as string
    const report = answers.reads[`/api/v1/tasks/${reportId}`] as {
      blocks: ReadonlyArray<{ id: string; status: string }>
    }
    const open = report.blocks.find((block) => block.status === "pending")?.id as string
    const before = answers.reads["/api/v1/store/profile"] as { balance: number }
    expect(
      (await call(server.url, "POST", `/api/v1/tasks/${reportId}/blocks/${open}/start`, { token })).status
    ).toBe(200)
    const done = await call(server.url, "POST", `/api/v1/tasks/${reportId}/blocks/${open}/complete`, {
      token,
      body: {}
    })
    expect(done.status).toBe(200)
    const completion = done.json() as {
      task: { status: string }
      balance: number
      tokens_earned: number
      pay: { reason: string }
    }
    expect(completion.task.status).toBe("completed")
    // Started and completed at once: server time says no focus was spent.
    expect(completion).toMatchObject({ tokens_earned: 0, pay: { reason: "too_short" } })
    expect(completion.balance).toBeGreaterThanOrEqual(before.balance + completion.tokens_earned)

    // Opening an older build's file narrows it to its owner: it holds password hashes.
    expect(statSync(join(dataDir, "focusforge.db")).mode & 0o777).toBe(0o600)
  }, 90_000)
})
