/**
 * The real server stack (same layers, same runMain, same drain) serving the FocusForge API plus two
 * test-only endpoints: a slow one, to hold a request in flight during shutdown, and an echo that
 * decodes a JSON body, to exercise body parsing and validation.
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
  ) {}

const TestApi = FocusForgeApi.add(TestGroup)

const TestHandlers = HttpApiBuilder.group(TestApi, "test", (handlers) =>
  handlers
    .handle("slow", ({ urlParams }) => Effect.sleep(urlParams.ms).pipe(Effect.as({ slept_ms: urlParams.ms })))
    .handle("echo", ({ payload }) => Effect.succeed(payload))
)

launch(makeServer(HttpApiBuilder.api(TestApi).pipe(Layer.provide([ApiHandlersLive, TestHandlers]))))
