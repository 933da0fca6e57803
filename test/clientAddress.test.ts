import { describe, expect, it } from "@effect/vitest"
import { type Config, ConfigProvider, Effect, Result } from "effect"
import {
  describeConfigError,
  LoginThrottleConfig,
  parseTrustedProxies,
  type TrustedProxies,
  TrustedProxiesConfig
} from "../src/layers/config/AppConfig.ts"
import { resolveClientAddress } from "../src/http/clientAddress.ts"

const trusted = (raw: string): TrustedProxies => {
  const parsed = parseTrustedProxies(raw)
  if (parsed === undefined) throw new Error(`invalid: ${raw}`)
  return parsed
}

const nginx = trusted("172.28.1.10, 10.0.0.0/8")

describe("client address", () => {
  it("is the socket peer when no proxy is trusted, whatever X-Forwarded-For says", () => {
    expect(resolveClientAddress("127.0.0.2", undefined, [])).toBe("127.0.0.2")
    expect(resolveClientAddress("127.0.0.2", "203.0.113.9", [])).toBe("127.0.0.2")
    // A peer that is not a trusted proxy cannot speak for anyone else either.
    expect(resolveClientAddress("192.0.2.1", "203.0.113.9", nginx)).toBe("192.0.2.1")
  })

  it("behind a trusted proxy, is the right-most untrusted X-Forwarded-For entry", () => {
    expect(resolveClientAddress("172.28.1.10", "203.0.113.9", nginx)).toBe("203.0.113.9")
    // A client that sends its own header only adds entries to the left of the one nginx appends.
    expect(resolveClientAddress("172.28.1.10", "198.51.100.1, 203.0.113.9", nginx)).toBe("203.0.113.9")
    // Through a load balancer (10.x) and then nginx: both skipped.
    expect(resolveClientAddress("172.28.1.10", "198.51.100.1, 203.0.113.9, 10.1.2.3", nginx)).toBe(
      "203.0.113.9"
    )
    // Several headers arrive joined with ", " by node.
    expect(resolveClientAddress("172.28.1.10", "203.0.113.9, 10.0.0.7", nginx)).toBe("203.0.113.9")
  })

  it("falls back to the last hop it can name when the chain is all trusted or not addresses", () => {
    expect(resolveClientAddress("172.28.1.10", "10.0.0.5, 10.0.0.6", nginx)).toBe("10.0.0.5")
    expect(resolveClientAddress("172.28.1.10", "unknown", nginx)).toBe("172.28.1.10")
    expect(resolveClientAddress("172.28.1.10", "203.0.113.9, garbage, 10.0.0.6", nginx)).toBe("10.0.0.6")
    expect(resolveClientAddress("172.28.1.10", "", nginx)).toBe("172.28.1.10")
  })

  it("is canonical: IPv4-mapped peers are IPv4, bracketed IPv6 entries are read", () => {
    expect(resolveClientAddress("::ffff:127.0.0.2", undefined, [])).toBe("127.0.0.2")
    expect(resolveClientAddress("::ffff:172.28.1.10", "203.0.113.9", nginx)).toBe("203.0.113.9")
    expect(resolveClientAddress("172.28.1.10", "[2001:db8::1]", nginx)).toBe("2001:db8::1")
    expect(resolveClientAddress(undefined, "203.0.113.9", nginx)).toBe("unknown")
  })
})

describe("TRUSTED_PROXIES and the throttle settings", () => {
  const read = <A>(config: Config.Config<A>, env: Record<string, string>) =>
    Effect.result(
      config.pipe(Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env)))
    )

  it("parses addresses and CIDR networks, and refuses anything else", () => {
    expect(parseTrustedProxies("")).toEqual([])
    expect(trusted("127.0.0.1, ::1, 10.0.0.0/8, fd00::/8")).toHaveLength(4)
    for (const bad of ["nginx", "10.0.0.0/33", "300.1.1.1", "10.0.0.1,,x"]) {
      expect(parseTrustedProxies(bad), bad).toBeUndefined()
    }
  })

  it.effect("an invalid value names the variable", () =>
    Effect.gen(function* () {
      const proxies = yield* read(TrustedProxiesConfig, { TRUSTED_PROXIES: "nginx" })
      expect(Result.isFailure(proxies) && describeConfigError(proxies.failure)).toBe(
        'TRUSTED_PROXIES: Expected comma-separated IP addresses or CIDR networks but received "nginx"'
      )
      const throttle = yield* read(LoginThrottleConfig, { REGISTER_MAX_PER_ADDRESS: "0" })
      expect(Result.isFailure(throttle) && describeConfigError(throttle.failure)).toBe(
        'REGISTER_MAX_PER_ADDRESS: Expected a positive integer but received "0"'
      )
      const defaults = yield* read(TrustedProxiesConfig, {})
      expect(Result.isSuccess(defaults) && defaults.success).toEqual([])
    })
  )
})
