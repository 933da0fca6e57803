import { FileSystem } from "@effect/platform"
import { Effect, Layer } from "effect"
import { AppConfig } from "./AppConfig.ts"
import { Health } from "./Health.ts"

/**
 * Checks for the components of the embedded default that have no richer layer of their own yet:
 * the store's data directory must be writable; the AI provider is the
 * built-in heuristic one. Each component's own layer replaces its entry as it lands.
 */
export const EmbeddedHealthChecks = Layer.scopedDiscard(
  Effect.gen(function* () {
    const health = yield* Health
    const fs = yield* FileSystem.FileSystem
    const { dataDir } = yield* AppConfig
    yield* fs.makeDirectory(dataDir, { recursive: true }).pipe(Effect.orDie)
    const probe = `${dataDir}/.health-probe`
    yield* health.register(
      "store",
      fs.writeFileString(probe, String(Date.now())).pipe(
        Effect.as({ status: "healthy" as const, details: { kind: "sqlite", data_dir: dataDir } }),
        Effect.catchAll((error) =>
          Effect.succeed({
            status: "unhealthy" as const,
            message: `data directory not writable: ${error.message}`
          })
        )
      ),
      { critical: true }
    )
    yield* health.register(
      "ai",
      Effect.succeed({ status: "healthy" as const, details: { provider: "heuristic" } }),
      { critical: false }
    )
  })
)
