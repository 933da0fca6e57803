import { Config, Effect, FiberRef, FiberRefs, HashMap, Layer, Logger, LogLevel } from "effect"
import { globalValue } from "effect/GlobalValue"
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

/** What a log line needs to know about the HTTP request its fiber serves. */
export interface RequestLogContext {
  readonly requestId: string
}

/**
 * The request a fiber is serving, set once per request by the HTTP layer and inherited by the fibers it
 * forks. The logger reads it when (and only when) a line is written, so a request that logs nothing
 * pays no `Effect.annotateLogs` (a FiberRef write and a hash-map insert) for its `request_id`.
 */
export const currentRequestLog = globalValue(Symbol.for("focusforge/Logging/currentRequestLog"), () =>
  FiberRef.unsafeMake<RequestLogContext | undefined>(undefined)
)

/** Adds `request_id` to the annotations of lines written while serving a request. */
const withRequestId = <Message, Output>(logger: Logger.Logger<Message, Output>) =>
  Logger.mapInputOptions(logger, (options: Logger.Logger.Options<Message>) => {
    const request = FiberRefs.getOrDefault(options.context, currentRequestLog)
    return request === undefined
      ? options
      : { ...options, annotations: HashMap.set(options.annotations, "request_id", request.requestId) }
  })

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
        Logger.replace(Logger.defaultLogger, withRequestId(Logger.withConsoleLog(Logger.jsonLogger))),
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
