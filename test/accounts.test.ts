import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted, Result, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { ClaimEmail, Email } from "../src/domain/account.ts"
import { UserId } from "../src/domain/ids.ts"
import { AppConfigTest } from "../src/layers/AppConfig.ts"
import { EventStoreSqliteMemory } from "../src/layers/EventStoreSqlite.ts"
import { Accounts } from "../src/programs/accounts.ts"
import { ActorSystem } from "../src/programs/actors/ActorSystem.ts"
import { Aggregates, emailEntityId } from "../src/programs/Aggregates.ts"

const TestLayer = Accounts.layer.pipe(
  Layer.provideMerge(Aggregates.layer),
  Layer.provideMerge(ActorSystem.layer),
  Layer.provideMerge(Layer.merge(EventStoreSqliteMemory, AppConfigTest()))
)

const email = () => Schema.decodeSync(Email)(`orphan-${randomUUID()}@example.com`)
const password = Redacted.make("correct horse battery")

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

          const unknown = yield* Effect.result(accounts.login({ email: address, password }))
          expect(Result.isFailure(unknown) && unknown.failure._tag).toBe("InvalidCredentials")

          const session = yield* accounts.register({ email: address, password, display_name: "Retry" })
          expect(session.user.id).toBe(orphan)
          const login = yield* accounts.login({ email: address, password })
          expect(login.user.id).toBe(orphan)

          // Once the account exists, the address is taken for good.
          const again = yield* Effect.result(
            accounts.register({ email: address, password, display_name: "Thief" })
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
            Effect.result(accounts.register({ email: address, password, display_name: `Racer ${i}` }))
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
        const session = yield* accounts.register({ email: email(), password, display_name: "Leaver" })
        const principal = yield* accounts.authenticate(session.access_token)
        expect(principal.user.id).toBe(session.user.id)
        yield* accounts.logout(principal)
        const after = yield* Effect.result(accounts.authenticate(session.access_token))
        expect(Result.isFailure(after) && after.failure._tag === "InvalidToken" && after.failure.reason).toBe(
          "revoked"
        )
      })
    )
  })
})
