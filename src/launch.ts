import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer } from "effect"
import { LoggingLive } from "./layers/Logging.ts"

const isInvalidConfig = (
  error: unknown
): error is { readonly _tag: "InvalidConfig"; readonly message: string } =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "InvalidConfig"

/**
 * Runs a long-lived layer until SIGTERM/SIGINT, then releases it. A bad configuration is reported as
 * the single line that names the variable, and the process exits 1.
 */
export const launch = <E>(layer: Layer.Layer<never, E>): void =>
  Layer.launch(layer).pipe(
    Effect.provide(LoggingLive),
    Effect.catchAll((error) =>
      isInvalidConfig(error)
        ? Console.error(error.message).pipe(
            Effect.zipRight(
              Effect.sync(() => {
                process.exitCode = 1
              })
            )
          )
        : Effect.fail(error)
    ),
    NodeRuntime.runMain({ disablePrettyLogger: true })
  )
