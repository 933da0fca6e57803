/**
 * What one bearer-token check costs, since every authenticated request pays it: fast-jwt (what the app
 * uses, through `makeJwtCodec`, and bare), jose's `jwtVerify`, and the hand-rolled HS256 verifier the
 * app had before (kept here as the baseline), side by side in one process on the same token shape.
 * Also the password KDFs' cost per hash (argon2id at OWASP's parameters vs the scrypt it replaced).
 * Writes its section into BENCHMARKS.md.
 */
import { hash as argon2Hash } from "@node-rs/argon2"
import { Redacted, Result, Schema } from "effect"
import { createVerifier } from "fast-jwt"
import { jwtVerify } from "jose"
import { createHmac, randomBytes, randomUUID, scrypt, timingSafeEqual } from "node:crypto"
import { cpus, totalmem } from "node:os"
import { Claims, makeJwtCodec } from "../src/layers/auth/Jwt.ts"
import { writeSection } from "./support/harness.ts"

const SECRET = "bench-secret-that-is-at-least-thirty-two-characters"
const secret = Redacted.make(SECRET)
const now = Math.floor(Date.now() / 1000)
const claims = { sub: randomUUID(), jti: randomUUID(), iat: now, exp: now + 3600 }
const codec = makeJwtCodec({ secret, previousSecrets: [], issuer: "focusforge", audience: "focusforge" })
const token = codec.issue(claims)

// --- the previous build's verifier (src/layers/auth/Jwt.ts before fast-jwt) ------------------------
const LEGACY_HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url")
const decodeLegacyClaims = Schema.decodeUnknownResult(Schema.fromJsonString(Claims))
const legacySign = (input: string) => createHmac("sha256", SECRET).update(input).digest()
const legacyPayload = Buffer.from(JSON.stringify(claims)).toString("base64url")
const legacyToken = `${LEGACY_HEADER}.${legacyPayload}.${legacySign(`${LEGACY_HEADER}.${legacyPayload}`).toString("base64url")}`
const legacyVerify = (jwt: string): Result.Result<Claims, unknown> => {
  const [header, payload, signature] = jwt.split(".") as [string, string, string]
  if (header !== LEGACY_HEADER) return Result.fail("malformed")
  const expected = legacySign(`${header}.${payload}`)
  const given = Buffer.from(signature, "base64url")
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return Result.fail("signature")
  return decodeLegacyClaims(Buffer.from(payload, "base64url").toString("utf8"))
}

const bareFastJwt = createVerifier({
  key: SECRET,
  algorithms: ["HS256"],
  allowedIss: "focusforge",
  allowedAud: "focusforge"
})
const joseKey = new TextEncoder().encode(SECRET)

const ROUNDS = 5
const CALLS = 20_000
const median = (values: ReadonlyArray<number>) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

/** µs per call, median over rounds; `run` is awaited only when it returns a promise. */
const timeOnce = async (run: () => unknown, calls: number): Promise<number> => {
  const started = performance.now()
  for (let i = 0; i < calls; i++) {
    const result = run()
    if (result instanceof Promise) await result
  }
  return ((performance.now() - started) * 1000) / calls
}

/** The rows take turns within each round, so a neighbour's load on the shared machine hits all alike. */
const measureAll = async (runs: ReadonlyArray<() => unknown>): Promise<Array<number>> => {
  for (const run of runs) await timeOnce(run, 2_000)
  const samples = runs.map((): Array<number> => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, run] of runs.entries()) samples[i]?.push(await timeOnce(run, CALLS))
  }
  return samples.map(median)
}

// Sanity: each verifier accepts its token, so no row measures a fast rejection.
if (!Result.isSuccess(codec.verify(token, now))) throw new Error("codec refused its token")
if (!Result.isSuccess(legacyVerify(legacyToken))) throw new Error("legacy refused its token")
bareFastJwt(token)
await jwtVerify(token, joseKey, { issuer: "focusforge", audience: "focusforge", algorithms: ["HS256"] })

const verifiers: ReadonlyArray<{ readonly label: string; readonly run: () => unknown }> = [
  { label: "hand-rolled HS256 (the previous build; no iss/aud/kid)", run: () => legacyVerify(legacyToken) },
  { label: "fast-jwt `createVerifier`, bare (iss/aud checked)", run: () => bareFastJwt(token) },
  {
    label: "**`makeJwtCodec().verify`** (fast-jwt + kid routing, exact signature, claims Schema) — used",
    run: () => codec.verify(token, now)
  },
  {
    label: "jose `jwtVerify` (async, awaited)",
    run: () =>
      jwtVerify(token, joseKey, { issuer: "focusforge", audience: "focusforge", algorithms: ["HS256"] })
  }
]
const timings = await measureAll(verifiers.map((verifier) => verifier.run))
const rows = verifiers.map((verifier, i) => ({ label: verifier.label, us: timings[i] ?? 0 }))
const baseline = rows[0]?.us ?? 1

const kdf = async (label: string, hashOnce: () => Promise<unknown>) => {
  await hashOnce()
  const samples: Array<number> = []
  for (let i = 0; i < 10; i++) {
    const started = performance.now()
    await hashOnce()
    samples.push(performance.now() - started)
  }
  return { label, ms: median(samples) }
}
const kdfRows = [
  await kdf("argon2id m=19456 KiB, t=2, p=1 (`@node-rs/argon2`, libuv pool) — used", () =>
    argon2Hash(randomUUID(), { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 })
  ),
  await kdf(
    "scrypt N=2^15, r=8, p=1 (the previous build; verified for old hashes only)",
    () =>
      new Promise((resolve, reject) =>
        scrypt(
          randomUUID(),
          randomBytes(16),
          32,
          { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 2 ** 20 },
          (error, key) => (error ? reject(error) : resolve(key))
        )
      )
  )
]

const section = `## Token verification and password hashing (\`bench/jwt.ts\`)

\`npx tsx bench/jwt.ts\`. One process, one valid HS256 token of the app's shape (sub, jti, iat, exp; iss/aud
for the rows that check them); each row is the median over ${ROUNDS} rounds of ${CALLS.toLocaleString("en")} sequential
verifications after a warm-up, the rows taking turns within each round. Every authenticated request pays one.

| verifier | µs per verify | × the hand-rolled one |
|---|---:|---:|
${rows.map((row) => `| ${row.label} | ${row.us.toFixed(2)} | ${(row.us / baseline).toFixed(2)} |`).join("\n")}

Decision: fast-jwt stays (the design's choice unless jose is clearly cheaper). It verifies synchronously
(no promise per request) and jose's async \`jwtVerify\` cost ${((rows[3]?.us ?? 0) / (rows[2]?.us ?? 1)).toFixed(1)}× the codec here. Against
the hand-rolled verifier the codec adds ${((rows[2]?.us ?? 0) - baseline).toFixed(1)} µs per request: the price of a maintained
library that checks \`iss\`/\`aud\` and of key rotation. The machine is shared, so read the ratios, not the µs. The codec's own
work over bare fast-jwt is the kid lookup, the canonical-signature check (fast-jwt alone accepts a
signature whose last character's unused bits differ) and decoding the claims with their Schema.

| password KDF, one hash | ms (median of 10) |
|---|---:|
${kdfRows.map((row) => `| ${row.label} | ${row.ms.toFixed(1)} |`).join("\n")}

Hashes run on libuv's thread pool (argon2 through napi-rs's async tasks, scrypt through Node's), never on
the event loop; at most max(1, cores − 1) run at once and 64 wait (\`PASSWORD_HASH_CONCURRENCY\`,
\`PASSWORD_HASH_QUEUE\`), beyond that 503 \`Overloaded\` with \`Retry-After\`.

Machine: ${cpus()[0]?.model.trim() ?? "unknown"}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}.`

writeSection("jwt", section)
console.log(section)
