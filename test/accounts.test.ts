import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted, Result, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { ClaimEmail, Email } from "../src/domain/account.ts"
import { UserId } from "../src/domain/ids.ts"
import { AppConfigTest, defaultLoginThrottleSettings } from "../src/layers/config/AppConfig.ts"
import { LoginThrottle } from "../src/layers/auth/LoginThrottle.ts"
import { EventStore } from "../src/eventsourcing/EventStore.ts"
import { EventStoreSqliteMemory } from "../src/layers/eventstore/EventStoreSqlite.ts"
import { Accounts } from "../src/programs/accounts.ts"
import { ActorSystem } from "../src/eventsourcing/ActorSystem.ts"
import { Aggregates, emailEntityId } from "../src/programs/aggregates.ts"

const TestLayer = Accounts.layerNoDeps.pipe(
  Layer.provideMerge(
    LoginThrottle.layerWith({
      settings: { ...defaultLoginThrottleSettings, registrationsPerAddress: 1_000 },
      secret: Redacted.make("accounts-test-secret"),
      redis: Option.none()
    })
  ),
  Layer.provideMerge(Aggregates.layer),
  Layer.provideMerge(ActorSystem.layer),
  Layer.provideMerge(Layer.merge(EventStoreSqliteMemory, AppConfigTest()))
)

const email = () => Schema.decodeSync(Email)(`orphan-${randomUUID()}@example.com`)
const password = Redacted.make("correct horse battery")
const client = "127.0.0.1"

describe("accounts program", () => {
  it.layer(TestLayer)("on an in-memory store", (it) => {
    it.effect(
      "a claim left without its account (crash between the appends) is completed by the next registration",
      () =>
        Effect.gen(function* () {
          const accounts = yield* Accounts
          const { emails } = yield* Aggregates
          const address = email()
          const orphan = UserId.make(randomUUID())
          // What a crash right after the claim leaves behind.
          yield* emails.send(
            emailEntityId(address),
            ClaimEmail.make({ email: address, user_id: orphan, at: new Date() })
          )

          const unknown = yield* Effect.result(accounts.login({ email: address, password, client }))
          expect(Result.isFailure(unknown) && unknown.failure._tag).toBe("InvalidCredentials")

          const session = yield* accounts.register({
            email: address,
            password,
            display_name: "Retry",
            client
          })
          expect(session.user.id).toBe(orphan)
          const login = yield* accounts.login({ email: address, password, client })
          expect(login.user.id).toBe(orphan)

          // Once the account exists, the address is taken for good.
          const again = yield* Effect.result(
            accounts.register({ email: address, password, display_name: "Thief", client })
          )
          expect(Result.isFailure(again) && again.failure._tag).toBe("EmailTaken")
        })
    )

    it.effect("of concurrent registrations of one address exactly one succeeds", () =>
      Effect.gen(function* () {
        const accounts = yield* Accounts
        const address = email()
        const results = yield* Effect.all(
          Array.from({ length: 5 }, (_, i) =>
            Effect.result(accounts.register({ email: address, password, display_name: `Racer ${i}`, client }))
          ),
          { concurrency: "unbounded" }
        )
        expect(results.filter(Result.isSuccess)).toHaveLength(1)
        for (const failed of results.filter(Result.isFailure)) expect(failed.failure._tag).toBe("EmailTaken")
      })
    )

    it.effect("a token stops authenticating once revoked", () =>
      Effect.gen(function* () {
        const accounts = yield* Accounts
        const session = yield* accounts.register({ email: email(), password, display_name: "Leaver", client })
        const principal = yield* accounts.authenticate(session.access_token)
        expect(principal.user.id).toBe(session.user.id)
        yield* accounts.logout(principal)
        const after = yield* Effect.result(accounts.authenticate(session.access_token))
        expect(Result.isFailure(after) && after.failure._tag === "InvalidToken" && after.failure.reason).toBe(
          "revoked"
        )
      })
    )

    it.effect("an account that a build before issue 16 locked logs in at once with the right password", () =>
      Effect.gen(function* () {
        const accounts = yield* Accounts
        const store = yield* EventStore
        const address = email()
        const session = yield* accounts.register({ email: address, password, display_name: "Locked", client })
        // What that build appended after five wrong passwords: the fifth locks for 15 minutes from now.
        const at = new Date()
        const lockedUntil = new Date(at.getTime() + 15 * 60_000)
        yield* store.append(
          `account-${session.user.id}`,
          1,
          [0, 1, 2, 3, 4].map((n) => ({
            eventId: randomUUID(),
            type: "LoginFailed",
            data: {
              _tag: "LoginFailed",
              user_id: session.user.id,
              locked_until: n === 4 ? lockedUntil.toISOString() : null,
              at: at.toISOString()
            },
            metadata: { timestamp: at.toISOString() }
          }))
        )
        const login = yield* accounts.login({ email: address, password, client: "127.0.0.9" })
        expect(login.user.id).toBe(session.user.id)
      })
    )
  })
})
