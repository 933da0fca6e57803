import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, Redacted, Result, Schema, SchemaIssue, Stream } from "effect"
import { randomBytes, randomUUID, scryptSync } from "node:crypto"
import {
  AccountDecider,
  ClaimEmail,
  DisplayName,
  type Email,
  EmailFromInput,
  emailSkeleton,
  isTokenRevoked,
  LoginSucceeded,
  Password,
  PasswordHash,
  PasswordRehashed,
  ProfileUpdated,
  Register,
  RevokeToken,
  TokenRevoked
} from "../src/domain/account.ts"
import { TokenId, UserId } from "../src/domain/ids.ts"
import { skeleton } from "../src/domain/skeleton.ts"
import { HttpApiError } from "effect/http-api"
import { redactIssue } from "../src/http/errors.ts"
import { validationError } from "../src/http/middleware.ts"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { keyId, makeJwtCodec } from "../src/layers/auth/Jwt.ts"
import { checkPasswordStrength } from "../src/layers/auth/PasswordStrength.ts"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { Accounts } from "../src/programs/accounts.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Aggregates, emailEntityId } from "../src/programs/aggregates.ts"
import { day, decideOk } from "./domain/support.ts"

const decodeEmail = Schema.decodeUnknownResult(EmailFromInput)
const decodePassword = Schema.decodeUnknownResult(Password)
const strong = Redacted.make("correct horse battery")

describe("password rules (NIST SP 800-63B)", () => {
  it("refuse blank, whitespace-only, control-only and short passwords in the schema", () => {
    for (const bad of [
      "        ",
      "\t\t\t\t\t\t\t\t",
      "\0".repeat(8),
      "abc\0defgh",
      "short",
      "x".repeat(129)
    ]) {
      expect(Result.isFailure(decodePassword(bad)), JSON.stringify(bad)).toBe(true)
    }
    expect(Result.isSuccess(decodePassword("x".repeat(128)))).toBe(true)
    // Counted after NFKC, in code points: three ligatures are nine letters, four emoji are four characters.
    expect(Result.isSuccess(decodePassword("ﬃﬃﬃ"))).toBe(true)
    expect(Result.isFailure(decodePassword("🔑🔒🔓🗝"))).toBe(true)
  })

  it.effect("refuse common and guessable passwords; accept a strong one", () =>
    Effect.gen(function* () {
      for (const common of ["12345678", "password", "password123", "P@ssw0rd", "qwertyuiop", "iloveyou12"]) {
        const verdict = yield* checkPasswordStrength(Redacted.make(common))
        expect(verdict, common).toBeDefined()
        if (common !== "password") expect(verdict?.reason, common).not.toContain(common)
      }
      expect(yield* checkPasswordStrength(strong)).toBeUndefined()
      expect(yield* checkPasswordStrength(Redacted.make("Str0ng-test-passphrase!"))).toBeUndefined()
      // The user's own email and name are dictionary words for their password.
      expect(
        yield* checkPasswordStrength(Redacted.make("zanzibarquokka"), ["zanzibarquokka@example.com"])
      ).toBeDefined()
      expect(yield* checkPasswordStrength(Redacted.make("zanzibarquokka"))).toBeUndefined()
    })
  )

  it.effect("the check runs off the event loop: the loop keeps turning during a slow estimate", () =>
    Effect.gen(function* () {
      yield* checkPasswordStrength(strong)
      // Runs of dates are zxcvbn's slowest inputs: tens of milliseconds of matching.
      const slow = Redacted.make("12/31/99".repeat(6))
      const turns = yield* Effect.promise(
        () =>
          new Promise<number>((resolve) => {
            let count = 0
            let done = false
            void Effect.runPromise(checkPasswordStrength(slow)).then(() => {
              done = true
            })
            const spin = () => {
              count += 1
              if (done) resolve(count)
              else setImmediate(spin)
            }
            setImmediate(spin)
          })
      )
      expect(turns).toBeGreaterThan(10)
    })
  )

  it("display names refuse control characters", () => {
    expect(Result.isFailure(Schema.decodeUnknownResult(DisplayName)("Ann\0"))).toBe(true)
    expect(Result.isSuccess(Schema.decodeUnknownResult(DisplayName)("Ann Ö"))).toBe(true)
  })
})

describe("emails", () => {
  it("are NFKC-normalised and lower-cased; control and invisible characters are refused", () => {
    expect(decodeEmail("  Ann@Example.COM ")).toEqual(Result.succeed("ann@example.com"))
    expect(decodeEmail("ＡＮＮ＠ｘ．ｃｏｍ")).toEqual(Result.succeed("ann@x.com"))
    for (const bad of ["ann@x.com\0", "an\0n@x.com", "ann\u200b@x.com", "ann@x\u0007.com"]) {
      expect(Result.isFailure(decodeEmail(bad)), JSON.stringify(bad)).toBe(true)
    }
  })

  it("look-alikes share a skeleton; plain ASCII addresses are their own skeleton", () => {
    const ann = "ann@x.com" as Email
    expect(emailSkeleton(ann)).toBe(ann)
    for (const lookAlike of ["аnn@x.com", "ann@х.com", "αnn@x.com", "ann@x.cοm", "ann@x.с\u043em"]) {
      expect(skeleton(lookAlike), lookAlike).toBe(ann)
    }
    expect(skeleton("bob0@x.com")).toBe(skeleton("bobo@x.com"))
    expect(skeleton("rnary@x.com")).toBe(skeleton("mary@x.com"))
    expect(skeleton("bob@x.com")).not.toBe(skeleton("rob@x.com"))
  })
})

describe("revoked tokens stay bounded", () => {
  const ann = UserId.make("ann")
  const registered = decideOk(
    AccountDecider,
    AccountDecider.initialState,
    Register.make({
      user_id: ann,
      email: "ann@example.com" as Email,
      display_name: "Ann",
      password_hash: PasswordHash.make("$argon2id$x"),
      at: day(0)
    })
  ).state
  const revoke = (id: string, expires: Date, at: Date) =>
    RevokeToken.make({ user_id: ann, token_id: TokenId.make(id), expires_at: expires, at })

  it("a token that has expired already is not recorded at revoke time", () => {
    const result = decideOk(AccountDecider, registered, revoke("old", day(1), day(2)))
    expect(result.events).toEqual([])
    expect(result.state.revoked_tokens).toEqual({})
  })

  it("any later event drops revocations whose tokens have expired", () => {
    let state = registered
    for (let i = 0; i < 50; i++)
      state = decideOk(AccountDecider, state, revoke(`t${i}`, day(2), day(1))).state
    expect(Object.keys(state.revoked_tokens)).toHaveLength(50)
    state = AccountDecider.evolve(state, LoginSucceeded.make({ user_id: ann, at: day(3) }))
    expect(state.revoked_tokens).toEqual({})
    expect(isTokenRevoked(state, "t1")).toBe(false)
    // An event replayed from an old store (a revocation already past its expiry) adds nothing either.
    state = AccountDecider.evolve(
      state,
      TokenRevoked.make({ user_id: ann, token_id: TokenId.make("x"), expires_at: day(2), at: day(4) })
    )
    expect(state.revoked_tokens).toEqual({})
    state = AccountDecider.evolve(state, ProfileUpdated.make({ user_id: ann, at: day(5) }))
    expect(isTokenRevoked(state, "constructor")).toBe(false)
  })

  it("PasswordRehashed replaces the stored hash", () => {
    const next = AccountDecider.evolve(
      registered,
      PasswordRehashed.make({ user_id: ann, password_hash: PasswordHash.make("$argon2id$new"), at: day(1) })
    )
    expect(next.account?.password_hash).toBe("$argon2id$new")
  })
})

describe("validation errors never echo secrets", () => {
  const Body = Schema.Struct({ email: Schema.String, password: Password, token: Schema.String })
  const messages = (input: unknown) => {
    const result = Schema.decodeUnknownResult(Body)(input, { errors: "all", reportInput: true })
    if (Result.isSuccess(result)) throw new Error("expected a failure")
    const issue = redactIssue(result.failure.issue)
    return [
      SchemaIssue.makeFormatterDefault()(issue),
      ...SchemaIssue.makeFormatterStandardSchemaV1()(issue).issues.map((i) => i.message)
    ].join("\n")
  }

  it("redact passwords and tokens but keep other fields' values", () => {
    const text = messages({ email: 42, password: 1234567, token: 987654321 })
    expect(text).not.toContain("1234567")
    expect(text).not.toContain("987654321")
    expect(text).toContain("42")
    expect(text).toContain("password")
    // Unredacted, the same issue did show them: the redaction is what hides them.
    const raw = Schema.decodeUnknownResult(Body)(
      { email: "a", password: 1234567, token: "t" },
      { reportInput: true }
    )
    expect(Result.isFailure(raw) && SchemaIssue.makeFormatterDefault()(raw.failure.issue)).toContain(
      "1234567"
    )
  })

  it("the API's ValidationError uses the redaction, even when a decoder reports its input", () => {
    const result = Schema.decodeUnknownResult(Body)(
      { email: 42, password: 73_519_246, token: ["tok-secret-value"] },
      { errors: "all", reportInput: true }
    )
    if (Result.isSuccess(result)) throw new Error("expected a failure")
    const error = validationError(
      new HttpApiError.HttpApiSchemaError({ kind: "Payload", cause: result.failure })
    )
    const text = JSON.stringify({ message: error.message, details: error.details })
    expect(text).not.toContain("73519246")
    expect(text).not.toContain("tok-secret-value")
    expect(text).toContain("42")
  })

  it("never echo a whole object (it would carry its password)", () => {
    const text = messages([{ password: "hunter2-secret" }])
    expect(text).not.toContain("hunter2-secret")
  })
})

// ---------------------------------------------------------------------------------------------
// The program: registration, rehash on login, skeleton claims, rotation

const secret = "program-test-secret-that-is-at-least-32-chars"
const previous = "the-previous-secret-that-is-at-least-32-chars"
/** Every call comes from one test address; registrations are not what these tests limit. */
const client = "127.0.0.1"

const programLayer = (env: Record<string, string>) =>
  Accounts.layer.pipe(
    Layer.provideMerge(Aggregates.layer),
    Layer.provideMerge(ActorSystem.layer),
    Layer.provideMerge(
      Layer.merge(EventStoreSqliteMemory, AppConfigTest({ jwtSecret: Redacted.make(secret) }))
    ),
    Layer.provide(
      ConfigProvider.layer(ConfigProvider.fromEnv({ env: { REGISTER_MAX_PER_ADDRESS: "100000", ...env } }))
    )
  )

const address = (local = "user") => Schema.decodeSync(EmailFromInput)(`${local}-${randomUUID()}@example.com`)
const legacyScrypt = (password: string): string => {
  const salt = randomBytes(16)
  const key = scryptSync(password, salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 })
  return `scrypt$32768$8$1$${salt.toString("base64url")}$${key.toString("base64url")}`
}

/** What an older build left: the address's claim and an account whose hash is scrypt, and no skeleton claim. */
const legacyAccount = (email: Email, password: string) =>
  Effect.gen(function* () {
    const { accounts, emails } = yield* Aggregates
    const user_id = UserId.make(randomUUID())
    const at = new Date()
    yield* emails.send(emailEntityId(email), ClaimEmail.make({ email, user_id, at }))
    yield* accounts.send(
      user_id,
      Register.make({
        user_id,
        email,
        display_name: "Old",
        password_hash: PasswordHash.make(legacyScrypt(password)),
        at
      })
    )
    return user_id
  })

const eventTypes = (stream: string) =>
  Effect.flatMap(EventStore, (store) =>
    Effect.map(Stream.runCollect(store.read(stream)), (events) => Array.from(events, (event) => event.type))
  )

const eventCount = Effect.flatMap(EventStore, (store) => Stream.runCount(store.readAll()))

describe("accounts program: credentials", () => {
  it.layer(programLayer({ JWT_PREVIOUS_SECRETS: previous, JWT_ISSUER: "ff-test", JWT_AUDIENCE: "ff-app" }))(
    "in memory",
    (it) => {
      it.effect("registration refuses common passwords with WeakPassword and writes nothing", () =>
        Effect.gen(function* () {
          const accounts = yield* Accounts
          const before = yield* eventCount
          for (const common of ["12345678", "password", "password123"]) {
            const error = yield* Effect.flip(
              accounts.register({
                email: address(),
                password: Redacted.make(common),
                display_name: "Weak",
                client
              })
            )
            expect(error._tag).toBe("WeakPassword")
            if (common !== "password") expect(error.message).not.toContain(common)
          }
          expect(yield* eventCount).toBe(before)
        })
      )

      it.effect(
        "an account with an old scrypt hash logs in, and its hash becomes argon2id (PasswordRehashed)",
        () =>
          Effect.gen(function* () {
            const accounts = yield* Accounts
            const { accounts: accountActors } = yield* Aggregates
            const email = address("legacy")
            const user_id = yield* legacyAccount(email, "weak but old")
            const stream = `account-${user_id}`
            const session = yield* accounts.login({ email, password: Redacted.make("weak but old"), client })
            expect(session.user.id).toBe(user_id)
            const state = (yield* accountActors.read(user_id)).state
            expect(state.account?.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
            expect(yield* eventTypes(stream)).toContain("PasswordRehashed")
            // The new hash verifies, and no second rehash is written.
            yield* accounts.login({ email, password: Redacted.make("weak but old"), client })
            const after = yield* eventTypes(stream)
            expect(after.filter((type) => type === "PasswordRehashed")).toHaveLength(1)
            // The old scheme's raw-text rule still holds for the wrong password.
            const wrong = yield* Effect.flip(
              accounts.login({ email, password: Redacted.make("weak but new"), client })
            )
            expect(wrong._tag).toBe("InvalidCredentials")
          })
      )

      it.effect("a look-alike of a registered address is EmailTaken, in either order", () =>
        Effect.gen(function* () {
          const accounts = yield* Accounts
          const id = randomUUID().slice(0, 8)
          const latin = Schema.decodeSync(EmailFromInput)(`ann-${id}@example.com`)
          const cyrillic = Schema.decodeSync(EmailFromInput)(`аnn-${id}@example.com`)
          expect(cyrillic).not.toBe(latin)
          yield* accounts.register({ email: latin, password: strong, display_name: "Ann", client })
          const shadow = yield* Effect.flip(
            accounts.register({ email: cyrillic, password: strong, display_name: "Evil", client })
          )
          expect(shadow._tag).toBe("EmailTaken")

          const id2 = randomUUID().slice(0, 8)
          const first = Schema.decodeSync(EmailFromInput)(`bοb-${id2}@example.com`) // Greek omicron
          yield* accounts.register({ email: first, password: strong, display_name: "Bob", client })
          const second = yield* Effect.flip(
            accounts.register({
              email: Schema.decodeSync(EmailFromInput)(`bob-${id2}@example.com`),
              password: strong,
              display_name: "Bob",
              client
            })
          )
          expect(second._tag).toBe("EmailTaken")
          // The skeleton's claim does not make the look-alike a login name for the account.
          const login = yield* Effect.flip(
            accounts.login({
              email: Schema.decodeSync(EmailFromInput)(`bob-${id2}@example.com`),
              password: strong,
              client
            })
          )
          expect(login._tag).toBe("InvalidCredentials")
          expect((yield* accounts.login({ email: first, password: strong, client })).user.email).toBe(first)
        })
      )

      it.effect("an account registered before skeleton claims gets its claim on its next login", () =>
        Effect.gen(function* () {
          const accounts = yield* Accounts
          const { emails } = yield* Aggregates
          const id = randomUUID().slice(0, 8)
          const oldEmail = Schema.decodeSync(EmailFromInput)(`j1m-${id}@example.com`)
          const oldUser = yield* legacyAccount(oldEmail, "jim's old password")
          const skeletonId = emailEntityId(emailSkeleton(oldEmail))
          expect(skeletonId).not.toBe(emailEntityId(oldEmail))
          expect(yield* eventTypes(`email-${skeletonId}`)).toEqual([])
          yield* accounts.login({ email: oldEmail, password: Redacted.make("jim's old password"), client })
          expect((yield* emails.read(skeletonId)).state.user_id).toBe(oldUser)
          const lookAlike = yield* Effect.flip(
            accounts.register({
              email: Schema.decodeSync(EmailFromInput)(`jlm-${id}@example.com`),
              password: strong,
              display_name: "Not Jim",
              client
            })
          )
          expect(lookAlike._tag).toBe("EmailTaken")
        })
      )

      it.effect(
        "tokens carry the configured iss/aud; tokens of JWT_PREVIOUS_SECRETS still authenticate",
        () =>
          Effect.gen(function* () {
            const accounts = yield* Accounts
            const session = yield* accounts.register({
              email: address(),
              password: strong,
              display_name: "Rot",
              client
            })
            const payload = JSON.parse(
              Buffer.from(session.access_token.split(".")[1] ?? "", "base64url").toString()
            )
            expect(payload).toMatchObject({ iss: "ff-test", aud: "ff-app" })
            expect((yield* accounts.authenticate(session.access_token)).user.id).toBe(session.user.id)
            const now = Math.floor(Date.now() / 1000)
            const claims = { sub: session.user.id, jti: randomUUID(), iat: now, exp: now + 60 }
            const settings = { previousSecrets: [], issuer: "ff-test", audience: "ff-app" }
            const old = makeJwtCodec({ ...settings, secret: Redacted.make(previous) })
            expect(old.kid).toBe(keyId(Redacted.make(previous)))
            expect((yield* accounts.authenticate(old.issue(claims))).user.id).toBe(session.user.id)
            const stranger = makeJwtCodec({
              ...settings,
              secret: Redacted.make("some-other-secret-at-least-32-chars-long")
            })
            expect(yield* Effect.flip(accounts.authenticate(stranger.issue(claims)))).toMatchObject({
              reason: "malformed"
            })
            const wrongAudience = makeJwtCodec({
              ...settings,
              audience: "focusforge",
              secret: Redacted.make(secret)
            })
            expect(yield* Effect.flip(accounts.authenticate(wrongAudience.issue(claims)))).toMatchObject({
              reason: "malformed"
            })
          })
      )
    }
  )

  it.effect("start-up refuses a short previous secret, a blank issuer or a zero hash queue", () =>
    Effect.gen(function* () {
      for (const env of [
        { JWT_PREVIOUS_SECRETS: `${previous},too-short` },
        { JWT_ISSUER: " " },
        { PASSWORD_HASH_QUEUE: "0" }
      ]) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(programLayer(env))))
        expect(error, JSON.stringify(env)).toMatchObject({ _tag: "InvalidConfig" })
        expect(String((error as { message?: string }).message)).toContain(Object.keys(env)[0] ?? "")
        expect(String((error as { message?: string }).message)).not.toContain(previous)
      }
    })
  )

  it.layer(programLayer({ PASSWORD_HASH_CONCURRENCY: "1", PASSWORD_HASH_QUEUE: "2" }))("saturated", (it) => {
    it.effect("logins beyond the hashing bound are Overloaded at once, the rest succeed", () =>
      Effect.gen(function* () {
        const accounts = yield* Accounts
        const email = address()
        yield* accounts.register({ email, password: strong, display_name: "Busy", client })
        const results = yield* Effect.forEach(
          // From eight addresses: the login throttle admits few concurrent attempts per (email, address).
          Array.from({ length: 8 }, (_, i) =>
            accounts.login({ email, password: strong, client: `127.0.9.${i + 1}` })
          ),
          (login) => Effect.result(login),
          { concurrency: "unbounded" }
        )
        const refused = results.filter(Result.isFailure).map((result) => result.failure)
        expect(refused.length).toBe(5)
        for (const error of refused) expect(error._tag).toBe("Overloaded")
        expect(results.filter(Result.isSuccess)).toHaveLength(3)
      })
    )
  })
})
