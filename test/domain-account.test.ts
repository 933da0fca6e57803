import { describe, expect, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import {
  AccountDecider,
  ClaimEmail,
  type Email,
  EmailClaimDecider,
  EmailFromInput,
  AccountState,
  isTokenRevoked,
  PasswordHash,
  Register,
  RevokeToken,
  UpdateProfile,
  userView
} from "../src/domain/account.ts"
import { TokenId, UserId } from "../src/domain/ids.ts"
import { day, decideErr, decideOk } from "./domain/support.ts"

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

  it("replays the lockout events of earlier builds as no-ops: an old lock does not lock", () => {
    // As a build before issue 16 stored them: the fifth failure carried `locked_until`.
    const stored = [0, 1, 2, 3, 4].map((n) => ({
      _tag: "LoginFailed",
      user_id: "ann",
      locked_until: n === 4 ? new Date(minutes(19).getTime()).toISOString() : null,
      at: minutes(n).toISOString()
    }))
    stored.push({ _tag: "LoginSucceeded", user_id: "ann", at: minutes(30).toISOString() } as never)
    const decode = Schema.decodeUnknownSync(AccountDecider.event)
    const state = stored.map((json) => decode(json)).reduce(AccountDecider.evolve, registered)
    expect(state).toEqual(registered)
    // The account takes commands at once, within what used to be the lock.
    expect(
      decideOk(
        AccountDecider,
        state,
        UpdateProfile.make({ user_id: ann, display_name: "Ann", at: minutes(5) })
      ).events
    ).toHaveLength(1)
  })

  it("decodes a snapshot of an earlier build, which held the lockout record, without it", () => {
    const snapshot = {
      ...Schema.encodeSync(AccountState)(registered),
      login: { recent_failures: [minutes(1).toISOString()], locked_until: minutes(20).toISOString() }
    }
    const decoded = Schema.decodeUnknownSync(AccountDecider.state)(snapshot)
    expect(decoded).toEqual(registered)
    expect("login" in decoded).toBe(false)
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
        UpdateProfile.make({ user_id: ann, display_name: "Ann", at: day(0) })
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
