import { Effect, FileSystem, Layer } from "effect"
import { AppConfig } from "../config/AppConfig.ts"
import { EventStore } from "../../eventsourcing/EventStore.ts"
import { Health } from "./Health.ts"

/**
 * The event store's round trip, registered here because both implementations share it. (The cache, the
 * Redis connection, the AI optimizer and the monitor register their own entries.)
 */
export const EmbeddedHealthChecks = Layer.effectDiscard(
  Effect.gen(function* () {
    const health = yield* Health
    const fs = yield* FileSystem.FileSystem
    const { dataDir } = yield* AppConfig
    yield* fs.makeDirectory(dataDir, { recursive: true }).pipe(Effect.orDie)
    const store = yield* EventStore
    yield* health.register(
      "store",
      store.ping.pipe(
        Effect.as({
          status: "healthy" as const,
          // No data_dir: an absolute path tells a visitor about the host, and operators know it.
          details: { kind: store.kind }
        }),
        Effect.catch((error) =>
          Effect.succeed({ status: "unhealthy" as const, message: `event store: ${error.message}` })
        )
      ),
      { critical: true }
    )
  })
)
