/**
 * The real server stack (same layers, same runMain, same drain) serving the FocusForge API plus
 * test-only endpoints: a slow one, to hold a request in flight during shutdown (and make known
 * latencies); an echo that decodes a JSON body, to exercise body parsing and validation; an item with a
 * path parameter, to see metrics labelled by route template; one that dies, for 5xx and error tags; one
 * that opens a span inside its handler, for trace parentage; and a test-only clock that a test can move
 * forward (`POST /test/clock/advance?minutes=n`), so that server-time rules (a block's pay is measured
 * from its start) can be exercised over real HTTP without waiting. Only this test entry has it.
 */
import { Clock, Effect, Layer, Schema } from "effect"
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { FocusForgeApi } from "../../src/http/Api.ts"
import { ErrorEnvelope } from "../../src/http/api/Envelope.ts"
import { ErrorEnvelopeLive } from "../../src/http/middleware.ts"
import { ApiHandlersLive, makeServer } from "../../src/http/Server.ts"
import { launch } from "../../src/launch.ts"

class TestGroup extends HttpApiGroup.make("test")
  .add(
    HttpApiEndpoint.get("slow", "/test/slow", {
      query: { ms: Schema.Number },
      success: Schema.Struct({ slept_ms: Schema.Number })
    })
  )
  .add(
    HttpApiEndpoint.post("echo", "/test/echo", {
      payload: Schema.Struct({ name: Schema.String.check(Schema.isMinLength(1)), count: Schema.Int }),
      success: Schema.Struct({ name: Schema.String, count: Schema.Int })
    })
  )
  .add(
    HttpApiEndpoint.get("item", "/test/items/:item_id", {
      params: { item_id: Schema.String },
      success: Schema.Struct({ item_id: Schema.String })
    })
  )
  .add(
    HttpApiEndpoint.post("advanceClock", "/test/clock/advance", {
      query: { minutes: Schema.FiniteFromString },
      success: Schema.Struct({ offset_ms: Schema.Number })
    })
  )
  .add(HttpApiEndpoint.get("boom", "/test/boom", { success: Schema.Struct({ ok: Schema.Boolean }) }))
  .add(
    HttpApiEndpoint.get("traced", "/test/traced", {
      success: Schema.Struct({ trace_id: Schema.String, span_id: Schema.String })
    })
  )
  // Added to the API after its own groups, so it takes the API's error envelope itself.
  .middleware(ErrorEnvelope) {}

const TestApi = FocusForgeApi.add(TestGroup)

/** How far the test clock runs ahead of the wall clock; it only ever moves forward. */
let offsetMs = 0

/** The wall clock plus `offsetMs` for "now"; sleeps and monotonic time stay real. */
const AdvanceableClock = Layer.effect(
  Clock.Clock,
  Effect.map(Effect.clockWith(Effect.succeed), (real) => ({
    ...real,
    currentTimeMillisUnsafe: () => real.currentTimeMillisUnsafe() + offsetMs,
    currentTimeMillis: Effect.sync(() => real.currentTimeMillisUnsafe() + offsetMs),
    currentTimeNanosUnsafe: () => real.currentTimeNanosUnsafe() + BigInt(offsetMs) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => real.currentTimeNanosUnsafe() + BigInt(offsetMs) * 1_000_000n),
    monotonicTimeNanosUnsafe: () => real.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: real.monotonicTimeNanos,
    sleep: (duration) => real.sleep(duration)
  }))
)

const TestHandlers = HttpApiBuilder.group(TestApi, "test", (handlers) =>
  handlers
    .handle("slow", ({ query }) => Effect.sleep(query.ms).pipe(Effect.as({ slept_ms: query.ms })))
    .handle("echo", ({ payload }) => Effect.succeed(payload))
    .handle("item", ({ params }) => Effect.succeed({ item_id: params.item_id }))
    .handle("advanceClock", ({ query }) =>
      Effect.sync(() => {
        offsetMs += Math.max(0, query.minutes) * 60_000
        return { offset_ms: offsetMs }
      })
    )
    .handle("boom", () => Effect.die(new Error("boom")))
    .handle("traced", () =>
      Effect.currentSpan.pipe(
        Effect.map((span) => ({ trace_id: span.traceId, span_id: span.spanId })),
        Effect.orDie,
        Effect.withSpan("test.inner")
      )
    )
).pipe(Layer.provide(ErrorEnvelopeLive))

launch(
  makeServer(TestApi, Layer.mergeAll(ApiHandlersLive, TestHandlers)).pipe(Layer.provide(AdvanceableClock))
)
