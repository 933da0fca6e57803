import { Config, Effect, Layer, Logger, LogLevel } from "effect"
import { InvalidConfig, describeConfigError } from "./AppConfig.ts"

export const LogLevelConfig = Config.literal(
  "All",
  "Trace",
  "Debug",
  "Info",
  "Warning",
  "Error",
  "Fatal",
  "None"
)("LOG_LEVEL").pipe(Config.withDefault("Info" as const))

/**
 * Structured JSON logs, one object per line, at the level LOG_LEVEL names. Provided around the whole
 * program (not as one layer among others) so that every fiber, request fibers included, inherits it.
 */
export const LoggingLive = Layer.unwrapEffect(
  LogLevelConfig.pipe(
    Effect.mapError(
      (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
    ),
    Effect.map((level) =>
      Layer.merge(
        Logger.replace(Logger.defaultLogger, Logger.withConsoleLog(Logger.jsonLogger)),
        Logger.minimumLogLevel(
          LogLevel.allLevels.find((candidate) => candidate._tag === level) ?? LogLevel.Info
        )
      )
    )
  )
)

/** A finalizer that logs once the named resource has been released, for an auditable shutdown. */
export const logReleased = (resource: string) =>
  Effect.addFinalizer(() => Effect.logInfo("released").pipe(Effect.annotateLogs("resource", resource)))
