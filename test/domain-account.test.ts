import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import fc from "fast-check"
import {
  AccountDecider,
  ClaimEmail,
  type Email,
  EmailClaimDecider,
  EmailFromInput,
  isTokenRevoked,
  LOCKOUT_MS,
  loginAllowed,
  MAX_FAILED_LOGINS,
  PasswordHash,
  RecordLogin,
  Register,
  RevokeToken,
  UpdateProfile,
  userView
} from "../src/domain/account.ts"
import { TokenId, UserId } from "../src/domain/ids.ts"
import { day, decideErr, decideOk, runCommands } from "./domain/support.ts"

const ann = UserId.make("ann")
const email = Schema.decodeSync(EmailFromInput)("  Ann@Example.COM ")
const register = Register.make({
  user_id: ann,
  email,
  display_name: "Ann",
  password_hash: PasswordHash.make("scrypt$16384$8$1$salt$hash"),
  at: day(0)
})
const registered = decideOk(AccountDecider, AccountDecider.initialState, register).state
const minutes = (n: number) => new Date(day(1).getTime() + n * 60_000)

describe("account", () => {
  it("normalises emails and rejects non-addresses", () => {
    expect(email).toBe("ann@example.com")
    const decode = Schema.decodeUnknownResult(EmailFromInput)
    for (const bad of ["", "ann", "ann@", "@x.io", "a b@x.io", 42, `${"a".repeat(320)}@x.io`]) {
      expect(Result.isFailure(decode(bad))).toBe(true)
    }
  })

  it("registers once, and the public view has no password hash", () => {
    expect(registered.account?.email).toBe("ann@example.com")
    expect(decideErr(AccountDecider, registered, register)).toMatchObject({
      _tag: "AccountAlreadyRegistered"
    })
    const view = userView(registered.account!)
    expect(view).toEqual({ id: ann, email, display_name: "Ann", created_at: day(0) })
    expect(JSON.stringify(view)).not.toContain("scrypt")
  })

  it("updates the display name", () => {
    const next = decideOk(
      AccountDecider,
      registered,
      UpdateProfile.make({ user_id: ann, display_name: "Annie", at: day(1) })
    )
    expect(next.state.account?.display_name).toBe("Annie")
  })

  it(`locks for 15 minutes after ${MAX_FAILED_LOGINS} failures in a row, then lets the owner in`, () => {
    const fail = (n: number) => RecordLogin.make({ user_id: ann, succeeded: false, at: minutes(n) })
    const { state, events } = runCommands(AccountDecider, [0, 1, 2, 3, 4].map(fail), registered)
    expect(events.at(-1)).toMatchObject({
      _tag: "LoginFailed",
      locked_until: new Date(minutes(4).getTime() + LOCKOUT_MS)
    })
    expect(Result.isFailure(loginAllowed(state, minutes(10)))).toBe(true)
    expect(decideErr(AccountDecider, state, fail(10))).toMatchObject({
      _tag: "AccountLocked",
      details: { retry_after_seconds: 9 * 60 }
    })
    // Even the right password is refused while locked.
    expect(
      decideErr(AccountDecider, state, RecordLogin.make({ user_id: ann, succeeded: true, at: minutes(10) }))
    ).toMatchObject({ _tag: "AccountLocked" })
    expect(Result.isSuccess(loginAllowed(state, minutes(19)))).toBe(true)
    const ok = decideOk(
      AccountDecider,
      state,
      RecordLogin.make({ user_id: ann, succeeded: true, at: minutes(19) })
    )
    expect(ok.state.login).toEqual({ recent_failures: [], locked_until: null })
  })

  it("a success resets the count, and failures spread beyond the window do not lock", () => {
    const fail = (n: number) => RecordLogin.make({ user_id: ann, succeeded: false, at: minutes(n) })
    const reset = runCommands(
      AccountDecider,
      [
        fail(0),
        fail(1),
        fail(2),
        fail(3),
        RecordLogin.make({ user_id: ann, succeeded: true, at: minutes(4) }),
        fail(5)
      ],
      registered
    )
    expect(reset.state.login.locked_until).toBeNull()
    expect(reset.state.login.recent_failures).toEqual([minutes(5)])
    const spread = runCommands(AccountDecider, [0, 20, 40, 60, 80, 100].map(fail), registered)
    expect(spread.state.login.locked_until).toBeNull()
  })

  it("revokes a token until its own expiry, then forgets it", () => {
    const revoke = (id: string, expires: Date, at: Date) =>
      RevokeToken.make({ user_id: ann, token_id: TokenId.make(id), expires_at: expires, at })
    const s1 = decideOk(AccountDecider, registered, revoke("t1", day(2), day(1))).state
    expect(isTokenRevoked(s1, "t1")).toBe(true)
    expect(isTokenRevoked(s1, "t2")).toBe(false)
    const s2 = decideOk(AccountDecider, s1, revoke("t2", day(5), day(3))).state
    expect(isTokenRevoked(s2, "t1")).toBe(false)
    expect(isTokenRevoked(s2, "t2")).toBe(true)
  })

  it("commands for an unregistered account fail with AccountNotFound", () => {
    expect(
      decideErr(
        AccountDecider,
        AccountDecider.initialState,
        RecordLogin.make({ user_id: ann, succeeded: true, at: day(0) })
      )
    ).toMatchObject({ _tag: "AccountNotFound" })
  })
})

describe("email claim", () => {
  const claim = (user: string, address: Email = email) =>
    ClaimEmail.make({ email: address, user_id: UserId.make(user), at: day(0) })

  it("the first claim wins; a retry by the same user writes nothing; another user gets EmailTaken", () => {
    const first = decideOk(EmailClaimDecider, EmailClaimDecider.initialState, claim("ann"))
    expect(first.events).toHaveLength(1)
    expect(decideOk(EmailClaimDecider, first.state, claim("ann")).events).toEqual([])
    expect(decideErr(EmailClaimDecider, first.state, claim("bob"))).toMatchObject({ _tag: "EmailTaken" })
  })
})

describe("login throttling (property)", () => {
  it("the 5th failure within 15 minutes locks, no more get through, and a lock refuses everything", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 600 }) }), {
          maxLength: 80
        }),
        fc.array(fc.integer({ min: 0, max: 79 })),
        (attempts, successes) => {
          let t = day(1).getTime()
          const commands = attempts.map((a, i) => {
            t += a.dt * 1000
            return RecordLogin.make({ user_id: ann, succeeded: successes.includes(i), at: new Date(t) })
          })
          const { steps } = runCommands(AccountDecider, commands, registered)
          let accepted: Array<Date> = []
          for (const { command, before, result } of steps) {
            const locked = before.login.locked_until !== null && command.at < before.login.locked_until
            if (locked) {
              expect(Result.isFailure(result) && result.failure._tag).toBe("AccountLocked")
              continue
            }
            expect(Result.isSuccess(result)).toBe(true)
            const event = Result.isSuccess(result) ? result.success[0] : undefined
            if (event?._tag === "LoginSucceeded") accepted = []
            if (event?._tag === "LoginFailed") {
              accepted.push(event.at)
              const inWindow = accepted.filter((t) => event.at.getTime() - t.getTime() < 15 * 60_000).length
              expect(inWindow).toBeLessThanOrEqual(MAX_FAILED_LOGINS)
              expect(event.locked_until !== null).toBe(inWindow === MAX_FAILED_LOGINS)
              if (event.locked_until !== null) accepted = []
            }
          }
        }
      )
    )
  })
})
