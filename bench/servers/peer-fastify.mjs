/**
 * The conventional service a user would compare FocusForge with, for bench/peer.ts only (nothing in
 * src/ imports it): Fastify 5, SQLite through `node:sqlite` (WAL), JSON Schema validation of bodies,
 * bearer HS256 JWTs signed and verified with fast-jwt (FocusForge's library), passwords hashed with
 * argon2id at OWASP's parameters (@node-rs/argon2, FocusForge's library), and on every authenticated
 * request the account looked up with two SQLite statements (it exists; the token id is not revoked),
 * as FocusForge does. State-based, not event-sourced: a block's completion updates the block, the task
 * and the wallet and appends the ledger lines in one transaction.
 *
 * Paths, status codes and JSON shapes follow FocusForge's contract (src/http/api/*.ts) closely enough
 * that the same load scripts drive both: register, login, mood, store profile and transactions, task
 * create/list/dashboard, block start/complete. Errors use FocusForge's envelope `{ _tag, message }`.
 * Token rules are FocusForge's (src/domain/rules.ts, src/domain/wallet.ts): block pay by elapsed time, streak bonus,
 * level-up bonuses and the level_5 achievement, paid once per block.
 *
 *   PORT (0), HOST (127.0.0.1), DATA_DIR (a temp dir), JWT_SECRET (random per process)
 * Prints "Listening on http://HOST:PORT" when ready (what bench/support/harness.ts waits for).
 */
import { randomBytes, randomUUID } from "node:crypto"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import { hash, verify } from "@node-rs/argon2"
import { createSigner, createVerifier } from "fast-jwt"
import Fastify from "fastify"

const TOKEN_SECONDS = 86_400
/** OWASP's argon2id parameters, the ones FocusForge uses (@node-rs/argon2's Algorithm.Argon2id is 2). */
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 }
const DIFFICULTY_PERCENT = { low: 80, medium: 100, high: 130 }
const LEVEL_5 = 5
const LEVEL_5_BONUS = 100

// --- storage -------------------------------------------------------------------------------------

const dataDir = process.env.DATA_DIR ?? mkdtempSync(join(tmpdir(), "peer-fastify-"))
const db = new DatabaseSync(join(dataDir, "peer.db"))
db.exec(`
  PRAGMA journal_mode = WAL;
  PRAGMA synchronous = NORMAL;
  PRAGMA busy_timeout = 5000;
  CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL, created_at TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS revoked_tokens (jti TEXT PRIMARY KEY, user_id TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS mood (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, score INTEGER NOT NULL, energy INTEGER NOT NULL,
    stress INTEGER NOT NULL, note TEXT, logged_at TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS mood_user ON mood (user_id, logged_at);
  CREATE TABLE IF NOT EXISTS wallets (
    user_id TEXT PRIMARY KEY, balance INTEGER NOT NULL, total_earned INTEGER NOT NULL,
    total_spent INTEGER NOT NULL, level INTEGER NOT NULL, level_rewarded INTEGER NOT NULL,
    streak_days INTEGER NOT NULL, last_active_day TEXT, last_streak_bonus_day TEXT,
    level_5_at TEXT);
  CREATE TABLE IF NOT EXISTS ledger (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT NOT NULL, type TEXT NOT NULL,
    source TEXT NOT NULL, amount INTEGER NOT NULL, task_id TEXT, block_id TEXT,
    description TEXT NOT NULL, at TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS ledger_user ON ledger (user_id, seq);
  CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL,
    title TEXT NOT NULL, description TEXT NOT NULL, duration_minutes INTEGER NOT NULL,
    difficulty TEXT NOT NULL, status TEXT NOT NULL, tokens_earned INTEGER NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL, completed_at TEXT);
  CREATE INDEX IF NOT EXISTS tasks_user ON tasks (user_id, seq);
  CREATE TABLE IF NOT EXISTS blocks (
    id TEXT NOT NULL, task_id TEXT NOT NULL, position INTEGER NOT NULL, title TEXT NOT NULL,
    duration_minutes INTEGER NOT NULL, status TEXT NOT NULL, started_at TEXT, completed_at TEXT,
    tokens_earned INTEGER, proof_text TEXT, proof_score REAL, effort_rating INTEGER,
    PRIMARY KEY (task_id, id));
`)

const sql = {
  insertUser: db.prepare(
    "INSERT INTO users (id, email, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)"
  ),
  insertWallet: db.prepare(
    "INSERT INTO wallets (user_id, balance, total_earned, total_spent, level, level_rewarded, streak_days) VALUES (?, 0, 0, 0, 1, 1, 0)"
  ),
  userByEmail: db.prepare("SELECT * FROM users WHERE email = ?"),
  userById: db.prepare("SELECT id, email, display_name, created_at FROM users WHERE id = ?"),
  revoked: db.prepare("SELECT 1 AS revoked FROM revoked_tokens WHERE jti = ?"),
  insertMood: db.prepare(
    "INSERT INTO mood (id, user_id, score, energy, stress, note, logged_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
  ),
  wallet: db.prepare("SELECT * FROM wallets WHERE user_id = ?"),
  updateWallet: db.prepare(
    `UPDATE wallets SET balance = ?, total_earned = ?, level = ?, level_rewarded = ?, streak_days = ?,
       last_active_day = ?, last_streak_bonus_day = ?, level_5_at = ? WHERE user_id = ?`
  ),
  insertLedger: db.prepare(
    "INSERT INTO ledger (user_id, type, source, amount, task_id, block_id, description, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
  ),
  ledgerPage: db.prepare("SELECT * FROM ledger WHERE user_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?"),
  ledgerCount: db.prepare("SELECT count(*) AS n FROM ledger WHERE user_id = ?"),
  insertTask: db.prepare(
    `INSERT INTO tasks (id, user_id, title, description, duration_minutes, difficulty, status, tokens_earned,
       created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)`
  ),
  insertBlock: db.prepare(
    "INSERT INTO blocks (id, task_id, position, title, duration_minutes, status) VALUES (?, ?, ?, ?, ?, 'pending')"
  ),
  task: db.prepare("SELECT * FROM tasks WHERE id = ? AND user_id = ?"),
  blocksOf: db.prepare("SELECT * FROM blocks WHERE task_id = ? ORDER BY position"),
  taskPage: db.prepare("SELECT * FROM tasks WHERE user_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?"),
  taskPageByStatus: db.prepare(
    "SELECT * FROM tasks WHERE user_id = ? AND status = ? ORDER BY seq DESC LIMIT ? OFFSET ?"
  ),
  taskCount: db.prepare("SELECT count(*) AS n FROM tasks WHERE user_id = ?"),
  taskCountByStatus: db.prepare("SELECT count(*) AS n FROM tasks WHERE user_id = ? AND status = ?"),
  activeTasks: db.prepare(
    "SELECT * FROM tasks WHERE user_id = ? AND status != 'completed' ORDER BY updated_at DESC"
  ),
  todaysBlocks: db.prepare(
    `SELECT b.* FROM blocks b JOIN tasks t ON t.id = b.task_id WHERE t.user_id = ?
       AND (b.status = 'in_progress' OR b.started_at >= ? OR b.completed_at >= ?) ORDER BY t.seq DESC, b.position`
  ),
  startBlock: db.prepare(
    "UPDATE blocks SET status = 'in_progress', started_at = ? WHERE task_id = ? AND id = ?"
  ),
  completeBlock: db.prepare(
    `UPDATE blocks SET status = 'completed', completed_at = ?, tokens_earned = ?, proof_text = ?,
       effort_rating = ? WHERE task_id = ? AND id = ?`
  ),
  updateTask: db.prepare(
    "UPDATE tasks SET status = ?, tokens_earned = ?, updated_at = ?, completed_at = ? WHERE id = ?"
  )
}

/** Runs `work` in one IMMEDIATE transaction: all of it is written, or nothing. */
const transaction = (work) => {
  db.exec("BEGIN IMMEDIATE")
  try {
    const result = work()
    db.exec("COMMIT")
    return result
  } catch (error) {
    db.exec("ROLLBACK")
    throw error
  }
}

// --- domain rules (FocusForge's src/domain/rules.ts) ---------------------------------------------

const utcDay = (iso) => iso.slice(0, 10)
const daysBetween = (from, to) => Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000)

const blockCount = (minutes) => Math.max(1, Math.round(minutes / 25))
const breakdown = (minutes) => {
  const count = blockCount(minutes)
  const base = Math.floor(minutes / count)
  const remainder = minutes - base * count
  return Array.from({ length: count }, (_, i) => (i < remainder ? base + 1 : base))
}
const tokensForBlock = (minutes, difficulty) =>
  Math.max(10, Math.floor((minutes * DIFFICULTY_PERCENT[difficulty]) / 100))

/**
 * FocusForge's pay rule (src/domain/rules.ts `payForBlock`): server time since the block's start decides;
 * nothing under a minute, full from 80 % of the planned minutes, proportional before.
 */
const payForBlock = (minutes, difficulty, elapsedMs) => {
  if (elapsedMs < 60_000) return 0
  const full = tokensForBlock(minutes, difficulty)
  const threshold = minutes * 60_000 * 4
  return elapsedMs * 5 >= threshold ? full : Math.floor((full * elapsedMs * 5) / threshold)
}

/** `floor((t / 50) ^ 0.6) + 1`, decided exactly as FocusForge does (t³ ≥ 50³ · k⁵). */
const levelFor = (totalEarned) => {
  const t = BigInt(Math.max(0, Math.floor(totalEarned)))
  const t3 = t * t * t
  const reaches = (k) => 125_000n * k ** 5n <= t3
  let k = BigInt(Math.max(0, Math.floor((Number(t) / 50) ** 0.6)))
  while (k > 0n && !reaches(k)) k -= 1n
  while (reaches(k + 1n)) k += 1n
  return Number(k) + 1
}
const nextLevelAt = (level) => {
  let lo = 0
  let hi = 50
  while (levelFor(hi) <= level) hi *= 2
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2)
    if (levelFor(mid) > level) hi = mid
    else lo = mid + 1
  }
  return lo
}
const nextStreak = (lastDay, streak, day) => {
  if (lastDay === null) return 1
  const gap = daysBetween(lastDay, day)
  if (gap <= 0) return streak
  return gap === 1 ? streak + 1 : 1
}
const currentStreak = (lastDay, streak, day) =>
  lastDay !== null && daysBetween(lastDay, day) <= 1 ? streak : 0
const streakBonus = (days) => (days >= 3 ? Math.min(days * 2, 20) : 0)

// --- views ---------------------------------------------------------------------------------------

const blockView = (b) => ({
  id: b.id,
  task_id: b.task_id,
  position: b.position,
  title: b.title,
  duration_minutes: b.duration_minutes,
  status: b.status,
  started_at: b.started_at,
  completed_at: b.completed_at,
  tokens_earned: b.tokens_earned,
  proof_text: b.proof_text,
  proof_score: b.proof_score,
  effort_rating: b.effort_rating
})

const taskView = (t, blocks) => ({
  id: t.id,
  user_id: t.user_id,
  title: t.title,
  description: t.description,
  duration_minutes: t.duration_minutes,
  difficulty: t.difficulty,
  status: t.status,
  blocks: blocks.map(blockView),
  tokens_earned: t.tokens_earned,
  created_at: t.created_at,
  updated_at: t.updated_at,
  completed_at: t.completed_at
})

const withBlocks = (t) => taskView(t, sql.blocksOf.all(t.id))

const userView = (u) => ({ id: u.id, email: u.email, display_name: u.display_name, created_at: u.created_at })

// --- errors (FocusForge's envelope) --------------------------------------------------------------

class Refused extends Error {
  constructor(status, tag, message, details) {
    super(message)
    this.status = status
    this.tag = tag
    this.details = details
  }
}

const unauthorized = () => new Refused(401, "Unauthorized", "Missing, expired or invalid access token")
const taskNotFound = (id) => new Refused(404, "TaskNotFound", `Task ${id} not found`, { task_id: id })
const invalidTransition = (from, action) =>
  new Refused(409, "InvalidTransition", `Cannot ${action} a ${from} block`, { entity: "block", from, action })

// --- auth ----------------------------------------------------------------------------------------

const secret = process.env.JWT_SECRET ?? randomBytes(32).toString("hex")
const sign = createSigner({ key: secret, algorithm: "HS256", expiresIn: TOKEN_SECONDS * 1000 })
const verifyToken = createVerifier({ key: secret, algorithms: ["HS256"] })

const session = (user) => ({
  user: userView(user),
  access_token: sign({ sub: user.id, jti: randomUUID() }),
  token_type: "bearer",
  expires_in: TOKEN_SECONDS
})

/** Every authenticated request: the signature and expiry, then the account exists and the token is not revoked. */
const authenticate = async (request) => {
  const header = request.headers.authorization
  if (typeof header !== "string" || !header.startsWith("Bearer ")) throw unauthorized()
  let claims
  try {
    claims = verifyToken(header.slice(7))
  } catch {
    throw unauthorized()
  }
  if (typeof claims.sub !== "string" || typeof claims.jti !== "string") throw unauthorized()
  const user = sql.userById.get(claims.sub)
  if (user === undefined || sql.revoked.get(claims.jti) !== undefined) throw unauthorized()
  request.user = user
}

/** A hash computed once, so an unknown email costs a login what a wrong password does. */
const decoyHash = await hash("decoy password for unknown emails", ARGON2)

// --- JSON Schemas (FocusForge's body rules) ------------------------------------------------------

const moodLevel = { type: "integer", minimum: 1, maximum: 10 }
const email = { type: "string", maxLength: 320 }
const password = { type: "string", minLength: 8, maxLength: 256 }
const object = (properties, required) => ({
  type: "object",
  properties,
  required,
  additionalProperties: true
})
const schemas = {
  register: object({ email, password, display_name: { type: "string", minLength: 1, maxLength: 200 } }, [
    "email",
    "password",
    "display_name"
  ]),
  login: object({ email, password }, ["email", "password"]),
  mood: object(
    { score: moodLevel, energy: moodLevel, stress: moodLevel, note: { type: "string", maxLength: 1000 } },
    ["score", "energy", "stress"]
  ),
  task: object(
    {
      title: { type: "string", minLength: 1, maxLength: 400 },
      description: { type: "string", maxLength: 5000, default: "" },
      duration_minutes: { type: "integer", minimum: 1, maximum: 600, default: 25 },
      difficulty: { enum: ["low", "medium", "high"], default: "medium" }
    },
    ["title"]
  ),
  complete: object(
    {
      proof_text: { type: "string", maxLength: 5000 },
      effort_rating: { type: "integer", minimum: 1, maximum: 10 }
    },
    []
  ),
  page: {
    type: "object",
    properties: {
      limit: { type: "string", pattern: "^[0-9]{1,3}$" },
      offset: { type: "string", pattern: "^[0-9]{1,7}$" },
      status: { enum: ["pending", "in_progress", "completed"] }
    }
  }
}

const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

/** Page parameters as FocusForge bounds them: limit 1–100 (default 20), offset 0–1,000,000. */
const pageOf = (query) => {
  const limit = query.limit === undefined ? 20 : Number(query.limit)
  const offset = query.offset === undefined ? 0 : Number(query.offset)
  if (limit < 1 || limit > 100 || offset > 1_000_000) {
    throw new Refused(400, "ValidationError", "Invalid query: limit 1-100, offset 0-1000000")
  }
  return { limit, offset }
}

// --- the server ----------------------------------------------------------------------------------

const app = Fastify({
  logger: false,
  bodyLimit: 1 << 20,
  ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false } }
})

app.setErrorHandler((error, _request, reply) => {
  if (error instanceof Refused) {
    const body = { _tag: error.tag, message: error.message }
    if (error.details !== undefined) body.details = error.details
    return reply.code(error.status).send(body)
  }
  if (error.validation !== undefined || (error.statusCode !== undefined && error.statusCode < 500)) {
    return reply.code(error.statusCode ?? 400).send({ _tag: "ValidationError", message: error.message })
  }
  return reply.code(500).send({ _tag: "InternalError", message: "Internal error" })
})

app.setNotFoundHandler((_request, reply) =>
  reply.code(404).send({ _tag: "NotFound", message: "No such route" })
)

// Echoed like FocusForge does: bench/lua/commands.lua matches answers to users by it.
app.addHook("onRequest", async (request, reply) => {
  const id = request.headers["x-request-id"]
  reply.header("x-request-id", typeof id === "string" && id.length <= 200 ? id : randomUUID())
})

const authed = { onRequest: authenticate }

app.post("/api/v1/auth/register", { schema: { body: schemas.register } }, async (request, reply) => {
  const address = request.body.email.trim().toLowerCase()
  const displayName = request.body.display_name.trim()
  if (!EMAIL_PATTERN.test(address) || address.length > 254 || displayName.length === 0) {
    throw new Refused(400, "ValidationError", "Invalid request body: email or display_name")
  }
  const passwordHash = await hash(request.body.password, ARGON2)
  const user = {
    id: randomUUID(),
    email: address,
    display_name: displayName,
    created_at: new Date().toISOString()
  }
  try {
    transaction(() => {
      sql.insertUser.run(user.id, user.email, user.display_name, passwordHash, user.created_at)
      sql.insertWallet.run(user.id)
    })
  } catch (error) {
    if (String(error?.message).includes("UNIQUE")) {
      throw new Refused(409, "EmailTaken", "An account with this email already exists")
    }
    throw error
  }
  return reply.code(201).send(session(user))
})

app.post("/api/v1/auth/login", { schema: { body: schemas.login } }, async (request) => {
  const user = sql.userByEmail.get(request.body.email.trim().toLowerCase())
  const ok = await verify(user?.password_hash ?? decoyHash, request.body.password)
  if (user === undefined || !ok) throw new Refused(401, "InvalidCredentials", "Wrong email or password")
  return session(user)
})

app.get("/api/v1/auth/me", authed, async (request) => userView(request.user))

app.post("/api/v1/mood", { ...authed, schema: { body: schemas.mood } }, async (request, reply) => {
  const entry = {
    id: randomUUID(),
    user_id: request.user.id,
    score: request.body.score,
    energy: request.body.energy,
    stress: request.body.stress,
    note: request.body.note ?? null,
    logged_at: new Date().toISOString()
  }
  sql.insertMood.run(
    entry.id,
    entry.user_id,
    entry.score,
    entry.energy,
    entry.stress,
    entry.note,
    entry.logged_at
  )
  return reply.code(201).send(entry)
})

app.get("/api/v1/store/profile", authed, async (request) => {
  const w = sql.wallet.get(request.user.id)
  return {
    balance: w.balance,
    total_earned: w.total_earned,
    total_spent: w.total_spent,
    level: w.level,
    next_level_at: nextLevelAt(w.level),
    streak_days: currentStreak(w.last_active_day, w.streak_days, utcDay(new Date().toISOString())),
    achievements:
      w.level_5_at === null
        ? []
        : [
            {
              id: "level_5",
              name: "Level 5",
              description: "Reached level 5",
              bonus: LEVEL_5_BONUS,
              unlocked_at: w.level_5_at
            }
          ]
  }
})

app.get(
  "/api/v1/store/transactions",
  { ...authed, schema: { querystring: schemas.page } },
  async (request) => {
    const { limit, offset } = pageOf(request.query)
    const items = sql.ledgerPage.all(request.user.id, limit, offset).map((l) => ({
      type: l.type,
      source: l.source,
      amount: l.amount,
      task_id: l.task_id,
      block_id: l.block_id,
      item_id: null,
      reward_id: null,
      description: l.description,
      at: l.at
    }))
    return { items, total: sql.ledgerCount.get(request.user.id).n, limit, offset }
  }
)

app.post("/api/v1/tasks", { ...authed, schema: { body: schemas.task } }, async (request, reply) => {
  const title = request.body.title.trim()
  if (title.length === 0 || title.length > 200) {
    throw new Refused(400, "ValidationError", "Invalid request body: title")
  }
  const now = new Date().toISOString()
  const id = randomUUID()
  const sizes = breakdown(request.body.duration_minutes)
  const task = transaction(() => {
    sql.insertTask.run(
      id,
      request.user.id,
      title,
      request.body.description,
      request.body.duration_minutes,
      request.body.difficulty,
      now,
      now
    )
    for (const [i, minutes] of sizes.entries()) {
      sql.insertBlock.run(randomUUID(), id, i, `${title} — block ${i + 1}/${sizes.length}`, minutes)
    }
    return withBlocks(sql.task.get(id, request.user.id))
  })
  return reply.code(201).send(task)
})

app.get("/api/v1/tasks", { ...authed, schema: { querystring: schemas.page } }, async (request) => {
  const { limit, offset } = pageOf(request.query)
  const status = request.query.status
  const user = request.user.id
  const rows =
    status === undefined
      ? sql.taskPage.all(user, limit, offset)
      : sql.taskPageByStatus.all(user, status, limit, offset)
  const total = (status === undefined ? sql.taskCount.get(user) : sql.taskCountByStatus.get(user, status)).n
  return { items: rows.map(withBlocks), total, limit, offset }
})

app.get("/api/v1/tasks/dashboard", authed, async (request) => {
  const user = request.user.id
  const now = new Date().toISOString()
  const day = utcDay(now)
  const dayStart = `${day}T00:00:00.000Z`
  const blocks = sql.todaysBlocks.all(user, dayStart, dayStart).map(blockView)
  const completed = blocks.filter((b) => b.completed_at !== null && b.completed_at >= dayStart)
  const w = sql.wallet.get(user)
  return {
    active_tasks: sql.activeTasks.all(user).map(withBlocks),
    today: {
      blocks,
      blocks_completed: completed.length,
      focus_minutes: completed.reduce((sum, b) => sum + b.duration_minutes, 0),
      tokens_earned: completed.reduce((sum, b) => sum + (b.tokens_earned ?? 0), 0)
    },
    balance: w.balance,
    level: w.level,
    streak_days: currentStreak(w.last_active_day, w.streak_days, day)
  }
})

/** The task (the caller's own) and the block in it, or the 404 FocusForge answers. */
const taskAndBlock = (user, taskId, blockId) => {
  const task = sql.task.get(taskId, user)
  if (task === undefined) throw taskNotFound(taskId)
  const blocks = sql.blocksOf.all(taskId)
  const block = blocks.find((b) => b.id === blockId)
  if (block === undefined) {
    throw new Refused(404, "BlockNotFound", `Block ${blockId} not found in task ${taskId}`, {
      task_id: taskId,
      block_id: blockId
    })
  }
  return { task, blocks, block }
}

app.post("/api/v1/tasks/:task_id/blocks/:block_id/start", authed, async (request) => {
  const { task_id, block_id } = request.params
  const now = new Date().toISOString()
  return transaction(() => {
    const { task, blocks, block } = taskAndBlock(request.user.id, task_id, block_id)
    if (block.status !== "pending") throw invalidTransition(block.status, "start")
    if (blocks.some((b) => b.status === "in_progress")) {
      throw invalidTransition("pending", "start, while another block is in progress,")
    }
    sql.startBlock.run(now, task_id, block_id)
    sql.updateTask.run("in_progress", task.tokens_earned, now, null, task_id)
    const updated = withBlocks(sql.task.get(task_id, request.user.id))
    return { task: updated, block: updated.blocks.find((b) => b.id === block_id) }
  })
})

/**
 * Credits the wallet for one block, as FocusForge's wallet decider does: the block's tokens, the
 * streak bonus (once a day from 3 days on), a level-up bonus for every level reached, the level_5
 * achievement once. Returns the bonus tokens paid. Runs inside the completion's transaction.
 */
const creditWallet = (user, task, block, tokens, now) => {
  const w = sql.wallet.get(user)
  const day = utcDay(now)
  const ledger = (type, source, amount, description) =>
    sql.insertLedger.run(user, type, source, amount, task.id, block.id, description, now)
  let totalEarned = w.total_earned + tokens
  let balance = w.balance + tokens
  ledger("earning", "block_completion", tokens, `${block.duration_minutes}-minute ${task.difficulty} block`)
  const streak = tokens > 0 ? nextStreak(w.last_active_day, w.streak_days, day) : w.streak_days
  const lastActive =
    tokens > 0 && (w.last_active_day === null || day > w.last_active_day) ? day : w.last_active_day
  let bonus = 0
  let lastBonusDay = w.last_streak_bonus_day
  const streakPay = streakBonus(streak)
  const isStreakDay = w.last_active_day === null || day >= w.last_active_day
  if (tokens > 0 && isStreakDay && (lastBonusDay === null || day > lastBonusDay) && streakPay > 0) {
    bonus += streakPay
    lastBonusDay = day
    ledger("bonus", "streak", streakPay, `${streak}-day streak bonus`)
  }
  let level = levelFor(totalEarned + bonus)
  let rewarded = w.level_rewarded
  for (let l = w.level_rewarded + 1; l <= level; l++) {
    bonus += l * 15
    rewarded = l
    ledger("bonus", "level_up", l * 15, `Level ${l} bonus`)
  }
  let level5At = w.level_5_at
  if (level5At === null && levelFor(totalEarned + bonus) >= LEVEL_5) {
    bonus += LEVEL_5_BONUS
    level5At = now
    ledger("bonus", "achievement", LEVEL_5_BONUS, "Achievement: Level 5")
  }
  totalEarned += bonus
  balance += bonus
  level = levelFor(totalEarned)
  sql.updateWallet.run(
    balance,
    totalEarned,
    level,
    rewarded,
    streak,
    lastActive,
    lastBonusDay,
    level5At,
    user
  )
  return { bonus, balance }
}

app.post(
  "/api/v1/tasks/:task_id/blocks/:block_id/complete",
  { ...authed, schema: { body: schemas.complete } },
  async (request) => {
    const { task_id, block_id } = request.params
    const user = request.user.id
    const now = new Date().toISOString()
    return transaction(() => {
      const { task, blocks, block } = taskAndBlock(user, task_id, block_id)
      if (block.status !== "in_progress") throw invalidTransition(block.status, "complete")
      const elapsedMs = Date.parse(now) - Date.parse(block.started_at)
      const tokens = payForBlock(block.duration_minutes, task.difficulty, elapsedMs)
      sql.completeBlock.run(
        now,
        tokens,
        request.body?.proof_text ?? null,
        request.body?.effort_rating ?? null,
        task_id,
        block_id
      )
      const lastOne = blocks.every((b) => b.id === block_id || b.status === "completed")
      sql.updateTask.run(
        lastOne ? "completed" : "in_progress",
        task.tokens_earned + tokens,
        now,
        lastOne ? now : null,
        task_id
      )
      const { bonus, balance } = creditWallet(user, task, block, tokens, now)
      const updated = withBlocks(sql.task.get(task_id, user))
      return {
        task: updated,
        block: updated.blocks.find((b) => b.id === block_id),
        tokens_earned: tokens,
        bonus_tokens: bonus,
        balance
      }
    })
  }
)

const address = await app.listen({
  port: Number(process.env.PORT ?? 0),
  host: process.env.HOST ?? "127.0.0.1"
})
console.log(`Listening on ${address}`)

const shutdown = () => {
  void app.close().then(() => {
    db.close()
    process.exit(0)
  })
}
process.once("SIGTERM", shutdown)
process.once("SIGINT", shutdown)
