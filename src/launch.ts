import { NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, Layer, Runtime } from "effect"
import { LoggingLive } from "./layers/observability/Logging.ts"

const isInvalidConfig = (
  error: unknown
): error is { readonly _tag: "InvalidConfig"; readonly message: string } =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "InvalidConfig"

/**
 * A shutdown by signal (the main fiber interrupted, every layer released) is a clean exit: 0, as it was
 * on Effect 3. Effect 4's default teardown answers an interruption with 130.
 */
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)
    ? onExit(0)
    : Runtime.defaultTeardown(exit, onExit)

/**
 * Runs a long-lived layer until SIGTERM/SIGINT, then releases it. A bad configuration is reported as
 * the single line that names the variable, and the process exits 1.
 */
export const launch = <E>(layer: Layer.Layer<never, E>): void =>
  Layer.launch(layer).pipe(
    Effect.provide(LoggingLive),
    Effect.catch((error) =>
      isInvalidConfig(error)
        ? Console.error(error.message).pipe(
            Effect.andThen(
              Effect.sync(() => {
                process.exitCode = 1
              })
            )
          )
        : Effect.fail(error)
    ),
    NodeRuntime.runMain({ teardown })
  )
