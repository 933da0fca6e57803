import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { afterAll, describe, expect, it } from "vitest"
import { Overloaded } from "../src/http/errors.ts"
import { answerOverloaded } from "../src/http/handlers/common.ts"
import { Overloaded as ActorOverloaded } from "../src/eventsourcing/EntityRuntime.ts"

/** One endpoint whose program finds its entity's mailbox full, mapped the way every handler maps it. */
class Group extends HttpApiGroup.make("g").add(
  HttpApiEndpoint.get("busy", "/busy", { success: Schema.String, error: Overloaded })
) {}
const Api = HttpApi.make("t").add(Group)
const Handlers = HttpApiBuilder.group(Api, "g", (handlers) =>
  handlers.handle("busy", () =>
    Effect.fail(new ActorOverloaded({ entity: "wallet-u1", retryAfterSeconds: 3 })).pipe(answerOverloaded)
  )
)

describe("a full actor mailbox over HTTP", () => {
  const web = HttpRouter.toWebHandler(
    HttpApiBuilder.layer(Api).pipe(Layer.provide(Handlers), Layer.provide(HttpServer.layerServices)),
    { disableLogger: true }
  )
  afterAll(() => web.dispose())

  it("is a 503 Overloaded envelope with Retry-After", async () => {
    const response = await web.handler(new Request("http://localhost/busy"))
    expect(response.status).toBe(503)
    expect(response.headers.get("retry-after")).toBe("3")
    expect(await response.json()).toEqual({
      _tag: "Overloaded",
      message: expect.stringContaining("retry after 3 s"),
      details: { retry_after_seconds: 3 }
    })
  })
})
