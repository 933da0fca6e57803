import { Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { afterAll, describe, expect, it } from "vitest"
import { ErrorEnvelope } from "../src/http/api/Envelope.ts"
import { ErrorEnvelopeLive } from "../src/http/middleware.ts"
import { EventStoreError } from "../src/eventsourcing/EventStore.ts"
import { storeFailuresAsDefects } from "../src/programs/aggregates.ts"

/**
 * Programs turn store failures into defects (`storeFailuresAsDefects`); the API's error envelope
 * decides what the client sees: a store that ran out of time is worth retrying (503 + Retry-After),
 * any other store failure stays a 500.
 */
class Group extends HttpApiGroup.make("g")
  .add(HttpApiEndpoint.get("slowStore", "/slow-store", { success: Schema.String }))
  .add(HttpApiEndpoint.get("brokenStore", "/broken-store", { success: Schema.String }))
  .middleware(ErrorEnvelope) {}
const Api = HttpApi.make("t").add(Group)
const Handlers = HttpApiBuilder.group(Api, "g", (handlers) =>
  handlers
    .handle("slowStore", () =>
      Effect.fail(
        new EventStoreError({ operation: "append", reason: "timeout", message: "no answer within 5000 ms" })
      ).pipe(storeFailuresAsDefects)
    )
    .handle("brokenStore", () =>
      Effect.fail(new EventStoreError({ operation: "append", message: "not authorized" })).pipe(
        storeFailuresAsDefects
      )
    )
).pipe(Layer.provide(ErrorEnvelopeLive))

describe("an event store timeout over HTTP", () => {
  const web = HttpRouter.toWebHandler(
    HttpApiBuilder.layer(Api).pipe(Layer.provide(Handlers), Layer.provide(HttpServer.layerServices)),
    { disableLogger: true }
  )
  afterAll(() => web.dispose())

  it("is a 503 StoreUnavailable envelope with Retry-After, its internals not shown", async () => {
    const response = await web.handler(new Request("http://localhost/slow-store"))
    expect(response.status).toBe(503)
    expect(response.headers.get("retry-after")).toBe("1")
    const body = await response.json()
    expect(body).toEqual({
      _tag: "StoreUnavailable",
      message: "The event store did not answer in time; retry after 1 s",
      details: { retry_after_seconds: 1 }
    })
    expect(JSON.stringify(body)).not.toContain("5000")
  })

  it("any other store failure stays a 500 InternalError without Retry-After", async () => {
    const response = await web.handler(new Request("http://localhost/broken-store"))
    expect(response.status).toBe(500)
    expect(response.headers.get("retry-after")).toBeNull()
    expect(await response.json()).toMatchObject({ _tag: "InternalError" })
  })
})
