import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { AppConfigTest } from "../src/layers/config/AppConfig.ts"
import { Health } from "../src/layers/observability/Health.ts"
import { Redis, RedisLive } from "../src/layers/redis/Redis.ts"
import { SHARED_REDIS_URL, freePort, testPrefix } from "./support/redisServer.ts"

const withUrl = (url: string | undefined) =>
  RedisLive.pipe(
    Layer.provideMerge(Health.layer),
    Layer.provide(
      AppConfigTest({ redisUrl: url === undefined ? Option.none() : Option.some(Redacted.make(url)) })
    )
  )

describe("Redis layer", () => {
  // Live services: connecting and PING run on the real clock.
  layer(withUrl(SHARED_REDIS_URL), { excludeTestServices: true })("with REDIS_URL", (it) => {
    it.effect("connects before the layer is ready, reports healthy, and hands out pub/sub connections", () =>
      Effect.gen(function* () {
        const redis = Option.getOrThrow((yield* Redis).connection)
        expect(yield* redis.status).toBe("ready")
        expect(redis.options.enableOfflineQueue).toBe(false)
        const report = yield* (yield* Health).report
        expect(report.components.redis).toMatchObject({ status: "healthy", critical: false })

        const channel = `${testPrefix()}channel`
        const subscriber = yield* redis.duplicate("test-subscriber", { enableOfflineQueue: true })
        const received = new Promise<string>((resolve) =>
          subscriber.on("message", (_, message: string) => resolve(message))
        )
        yield* Effect.promise(() => subscriber.subscribe(channel))
        yield* Effect.promise(() => redis.client.publish(channel, "hello"))
        expect(yield* Effect.promise(() => received)).toBe("hello")
      })
    )
  })

  it.layer(withUrl(undefined))("without REDIS_URL", (it) => {
    it.effect("attempts no connection and registers no health entry", () =>
      Effect.gen(function* () {
        expect(Option.isNone((yield* Redis).connection)).toBe(true)
        const report = yield* (yield* Health).report
        expect(report.components.redis).toBeUndefined()
      })
    )
  })

  it.live("with Redis down at start-up: the layer still builds and reports degraded, not unhealthy", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(() => freePort())
      const report = yield* Effect.gen(function* () {
        return yield* (yield* Health).report
      }).pipe(Effect.provide(withUrl(`redis://127.0.0.1:${port}`)))
      expect(report.components.redis?.status).toBe("degraded")
      expect(report.status).toBe("degraded")
    })
  )
})
