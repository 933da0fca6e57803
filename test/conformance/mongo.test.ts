import { describe, it } from "@effect/vitest"
import { Layer, Option, Redacted } from "effect"
import { randomUUID } from "node:crypto"
import { AppConfigTest } from "../../src/layers/AppConfig.ts"
import { Database } from "../../src/layers/Database.ts"
import { EventStoreMongoLive } from "../../src/layers/EventStoreMongo.ts"
import { Health } from "../../src/layers/Health.ts"
import { eventStoreSuite } from "./eventStoreSuite.ts"

const uri = process.env.MONGODB_URI

if (uri) {
  // A fresh database per run: tests never see another run's events.
  const database = `focusforge_conformance_${randomUUID().slice(0, 8)}`
  const store = EventStoreMongoLive.pipe(
    Layer.provide(Database.layer),
    Layer.provide(Health.layer),
    Layer.provide(AppConfigTest({ mongodb: Option.some({ uri: Redacted.make(uri), database }) }))
  )
  eventStoreSuite(`mongodb (${database})`, store)
} else {
  console.log("EventStore conformance: mongodb skipped: MONGODB_URI not set")
  describe.skip("EventStore conformance: mongodb — skipped: MONGODB_URI not set", () => {
    it("runs the suite against MongoDB when MONGODB_URI is set", () => {})
  })
}
