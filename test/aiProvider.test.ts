import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Redacted, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import { makeAiOptimizer } from "../src/layers/ai/AiOptimizer.ts"
import type { AiOptimizerConfig } from "../src/layers/ai/AiOptimizerConfig.ts"
import { makeOpenAiProvider } from "../src/layers/ai/OpenAiProvider.ts"
import { type LanguageModelShape, optimized } from "../src/layers/ai/LanguageModel.ts"
import { testConfig } from "./support/aiScript.ts"
import { type FakeProvider, fakeVector, startFakeProvider } from "./support/fakeProvider.ts"

const Breakdown = Schema.Struct({
  blocks: Schema.Array(Schema.Struct({ title: Schema.String, minutes: Schema.Int }))
})

const fake = Effect.acquireRelease(
  Effect.promise(() => startFakeProvider()),
  (server) => Effect.promise(() => server.close())
)

const realSleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** Polls in real time: the fake answers over real sockets, whatever clock the test runs on. */
const untilReal = (condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 500; i++) {
      if (condition()) return
      yield* realSleep(10)
    }
    return yield* Effect.die(new Error("condition never held"))
  })

const quick = (overrides: Partial<AiOptimizerConfig> = {}) =>
  testConfig({
    retry: { maxRetries: 2, baseDelayMillis: 10, maxDelayMillis: 50 },
    attemptTimeoutMillis: 2_000,
    ...overrides
  })

const modelFor = (server: FakeProvider, config: AiOptimizerConfig = quick()) =>
  Effect.gen(function* () {
    const client = yield* httpClient
    const provider = yield* Effect.provide(
      makeOpenAiProvider({
        baseUrl: server.baseUrl,
        model: "fake-model",
        embeddingModel: "fake-embedding",
        apiKey: Option.some(Redacted.make("sk-test-secret"))
      }),
      client
    )
    const optimizer = yield* makeAiOptimizer(config)
    return { model: optimized(provider, optimizer) satisfies LanguageModelShape, optimizer }
  })

/** Built into the test's scope: the client's connection pool must outlive the provider's construction. */
const httpClient = Layer.build(NodeHttpClient.layerUndici)

const ask = (model: LanguageModelShape) =>
  model.generateObject({ system: "Break the task down.", prompt: "Write the report", schema: Breakdown })

describe("OpenAI-compatible provider over the loopback fake", () => {
  it.live("generateObject sends a JSON chat completion and decodes the answer with the caller's Schema", () =>
    Effect.gen(function* () {
      const server = yield* fake
      server.script({ kind: "answer", content: { blocks: [{ title: "Outline", minutes: 25 }] } })
      const { model } = yield* modelFor(server)
      expect(yield* ask(model)).toEqual({ blocks: [{ title: "Outline", minutes: 25 }] })
      const [request] = server.requests()
      expect(request?.path).toBe("/v1/chat/completions")
      expect(request?.authorization).toBe("Bearer sk-test-secret")
      expect(request?.body).toMatchObject({
        model: "fake-model",
        response_format: { type: "json_object" },
        messages: [{ role: "system" }, { role: "user", content: "Write the report" }]
      })
    })
  )

  for (const kind of ["malformed", "malformedContent"] as const) {
    it.live(`a ${kind} reply is a typed MalformedResponse and is not retried`, () =>
      Effect.gen(function* () {
        const server = yield* fake
        server.setDefault({ kind })
        const { model } = yield* modelFor(server)
        const result = yield* Effect.result(ask(model))
        expect(Result.isFailure(result) && result.failure._tag).toBe("MalformedResponse")
        expect(server.calls()).toBe(1)
      })
    )
  }

  it.live("an answer that does not fit the Schema is a MalformedResponse, not retried", () =>
    Effect.gen(function* () {
      const server = yield* fake
      server.setDefault({ kind: "answer", content: { blocks: [{ title: 3 }] } })
      const { model } = yield* modelFor(server)
      const result = yield* Effect.result(ask(model))
      expect(Result.isFailure(result) && result.failure._tag).toBe("MalformedResponse")
      expect(server.calls()).toBe(1)
    })
  )

  it.live("500s are retried until the provider answers", () =>
    Effect.gen(function* () {
      const server = yield* fake
      server.script({ kind: "status", status: 500 }, { kind: "status", status: 502 })
      server.setDefault({ kind: "answer", content: { blocks: [] } })
      const { model, optimizer } = yield* modelFor(server)
      expect(yield* ask(model)).toEqual({ blocks: [] })
      expect(server.calls()).toBe(3)
      const stats = yield* optimizer.stats
      expect(stats.attempts).toBe(3)
      expect(stats.retries).toBe(2)
      expect(stats.successes).toBe(1)
    })
  )

  it.live("429 carries the provider's Retry-After, in seconds or as an HTTP date", () =>
    Effect.gen(function* () {
      const server = yield* fake
      const later = new Date(Date.now() + 120_000).toUTCString()
      server.script(
        { kind: "status", status: 429, retryAfter: "7" },
        { kind: "status", status: 503, retryAfter: later }
      )
      const { model } = yield* modelFor(
        server,
        quick({ retry: { maxRetries: 0, baseDelayMillis: 10, maxDelayMillis: 10 } })
      )
      const first = yield* Effect.result(ask(model))
      if (Result.isFailure(first) && first.failure._tag === "ProviderHttpError") {
        expect(first.failure.status).toBe(429)
        expect(first.failure.retryAfter && Duration.toMillis(first.failure.retryAfter)).toBe(7_000)
      } else expect.fail("expected ProviderHttpError")
      const second = yield* Effect.result(ask(model))
      if (
        Result.isFailure(second) &&
        second.failure._tag === "ProviderHttpError" &&
        second.failure.retryAfter
      ) {
        expect(Duration.toMillis(second.failure.retryAfter)).toBeGreaterThan(100_000)
      } else expect.fail("expected ProviderHttpError with retryAfter")
    })
  )

  it.effect("end to end on the TestClock: after a 429 with Retry-After: 7 the next request waits 7 s", () =>
    Effect.gen(function* () {
      const server = yield* fake
      server.script({ kind: "status", status: 429, retryAfter: "7" })
      server.setDefault({ kind: "answer", content: { blocks: [] } })
      const { model } = yield* modelFor(server)
      const fiber = yield* Effect.forkChild(ask(model))
      yield* untilReal(() => server.calls() === 1)
      // Let the 429 reach the retry schedule before moving the clock.
      yield* realSleep(100)
      yield* TestClock.adjust("6999 millis")
      yield* realSleep(200)
      expect(server.calls()).toBe(1)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toEqual({ blocks: [] })
      expect(server.calls()).toBe(2)
    })
  )

  it.live("a hung reply is abandoned at the per-attempt timeout", () =>
    Effect.gen(function* () {
      const server = yield* fake
      server.setDefault({ kind: "hang" })
      const { model } = yield* modelFor(
        server,
        quick({
          attemptTimeoutMillis: 200,
          retry: { maxRetries: 1, baseDelayMillis: 10, maxDelayMillis: 10 }
        })
      )
      const result = yield* Effect.result(ask(model))
      expect(Result.isFailure(result) && result.failure._tag).toBe("ProviderTimeout")
      expect(server.calls()).toBe(2)
      // The abandoned requests were cancelled, not left open on the provider.
      yield* untilReal(() => server.inFlight() === 0)
    })
  )

  it.live("a refused connection is a retryable ProviderConnectionError", () =>
    Effect.gen(function* () {
      const server = yield* Effect.promise(() => startFakeProvider())
      const baseUrl = server.baseUrl
      yield* Effect.promise(() => server.close())
      const provider = yield* makeOpenAiProvider({
        baseUrl,
        model: "m",
        embeddingModel: "e",
        apiKey: Option.none()
      }).pipe(Effect.provide(yield* httpClient))
      const optimizer = yield* makeAiOptimizer(quick())
      const result = yield* Effect.result(optimized(provider, optimizer).embed(["x"]))
      expect(Result.isFailure(result) && result.failure._tag).toBe("ProviderConnectionError")
      expect((yield* optimizer.stats).attempts).toBe(3)
    })
  )

  it.live("embed returns one vector per text in input order, whatever order the server lists them", () =>
    Effect.gen(function* () {
      const server = yield* fake
      server.setDefault({ kind: "embeddings", reversed: true })
      const { model } = yield* modelFor(server)
      const texts = ["alpha", "be", "gamma ray"]
      expect(yield* model.embed(texts)).toEqual(texts.map(fakeVector))
      expect(server.requests()[0]?.body).toEqual({ model: "fake-embedding", input: texts })
    })
  )

  it.live("never more than 3 calls in flight at the provider under 200 concurrent callers", () =>
    Effect.gen(function* () {
      const server = yield* fake
      server.setDefault({ kind: "delay", ms: 15, next: { kind: "answer", content: { blocks: [] } } })
      const { model, optimizer } = yield* modelFor(
        server,
        quick({
          bulkhead: { maxConcurrent: 3, maxQueue: 200 },
          deadlineMillis: 120_000,
          attemptTimeoutMillis: 60_000
        })
      )
      const results = yield* Effect.forEach(Array.from({ length: 200 }), () => Effect.result(ask(model)), {
        concurrency: "unbounded"
      })
      expect(results.every(Result.isSuccess)).toBe(true)
      expect(server.calls()).toBe(200)
      expect(server.maxInFlight()).toBe(3)
      const stats = yield* optimizer.stats
      expect(stats.inFlight).toBe(0)
      expect(stats.queueDepth).toBe(0)
    })
  )
})
