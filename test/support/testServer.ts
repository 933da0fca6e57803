/**
 * The real server stack (same layers, same runMain, same drain) serving the FocusForge API plus
 * test-only endpoints: a slow one, to hold a request in flight during shutdown (and make known
 * latencies); an echo that decodes a JSON body, to exercise body parsing and validation; an item with a
 * path parameter, to see metrics labelled by route template; one that dies, for 5xx and error tags; one
 * that opens a span inside its handler, for trace parentage.
 */
import { HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
import { Effect, Layer, Schema } from "effect"
import { FocusForgeApi } from "../../src/http/Api.ts"
import { ApiHandlersLive, makeServer } from "../../src/http/Server.ts"
import { launch } from "../../src/launch.ts"

class TestGroup extends HttpApiGroup.make("test")
  .add(
    HttpApiEndpoint.get("slow", "/test/slow")
      .setUrlParams(Schema.Struct({ ms: Schema.NumberFromString }))
      .addSuccess(Schema.Struct({ slept_ms: Schema.Number }))
  )
  .add(
    HttpApiEndpoint.post("echo", "/test/echo")
      .setPayload(
        Schema.Struct({ name: Schema.String.pipe(Schema.minLength(1)), count: Schema.Int }).annotations({
          parseOptions: { errors: "all" }
        })
      )
      .addSuccess(Schema.Struct({ name: Schema.String, count: Schema.Int }))
  )
  .add(
    HttpApiEndpoint.get("item", "/test/items/:item_id")
      .setPath(Schema.Struct({ item_id: Schema.String }))
      .addSuccess(Schema.Struct({ item_id: Schema.String }))
  )
  .add(HttpApiEndpoint.get("boom", "/test/boom").addSuccess(Schema.Struct({ ok: Schema.Boolean })))
  .add(
    HttpApiEndpoint.get("traced", "/test/traced").addSuccess(
      Schema.Struct({ trace_id: Schema.String, span_id: Schema.String })
    )
  ) {}

const TestApi = FocusForgeApi.add(TestGroup)

const TestHandlers = HttpApiBuilder.group(TestApi, "test", (handlers) =>
  handlers
    .handle("slow", ({ urlParams }) => Effect.sleep(urlParams.ms).pipe(Effect.as({ slept_ms: urlParams.ms })))
    .handle("echo", ({ payload }) => Effect.succeed(payload))
    .handle("item", ({ path }) => Effect.succeed({ item_id: path.item_id }))
    .handle("boom", () => Effect.die(new Error("boom")))
    .handle("traced", () =>
      Effect.currentSpan.pipe(
        Effect.map((span) => ({ trace_id: span.traceId, span_id: span.spanId })),
        Effect.orDie,
        Effect.withSpan("test.inner")
      )
    )
)

launch(makeServer(HttpApiBuilder.api(TestApi).pipe(Layer.provide([ApiHandlersLive, TestHandlers]))))
