import { Config, Context, Effect, Formatter, Layer, Logger, type LogLevel, References } from "effect"
import { describeConfigError, InvalidConfig, literalSetting } from "./AppConfig.ts"

/** LOG_LEVEL keeps the names it always accepted; `Warning` is Effect 4's `Warn`. */
export const LogLevelConfig = literalSetting("LOG_LEVEL", [
  "All",
  "Trace",
  "Debug",
  "Info",
  "Warning",
  "Error",
  "Fatal",
  "None"
]).pipe(Config.withDefault("Info" as const))

/**
 * How log lines look: `pretty` (Effect's human format) for a person at a terminal, `json` (one object per
 * line) for log shippers, pipes and files. Unset, it follows whether stdout is a terminal.
 */
export const LogFormatConfig = literalSetting("LOG_FORMAT", ["json", "pretty"]).pipe(
  Config.withDefault(process.stdout.isTTY === true ? ("pretty" as const) : ("json" as const))
)

const toLogLevel = (name: Config.Success<typeof LogLevelConfig>): LogLevel.LogLevel =>
  name === "Warning" ? "Warn" : name

/** What a log line needs to know about the HTTP request its fiber serves. */
export interface RequestLogContext {
  readonly requestId: string
}

/**
 * The request a fiber is serving, provided once per request by the HTTP layer
 * (`Effect.provideService(currentRequestLog, ...)`) and inherited by the fibers it forks. The logger
 * reads it when (and only when) a line is written, so a request that logs nothing pays no
 * `Effect.annotateLogs` (a context write and a record copy) for its `request_id`.
 */
export const currentRequestLog = Context.Reference<RequestLogContext | undefined>(
  "focusforge/Logging/currentRequestLog",
  { defaultValue: () => undefined }
)

/**
 * One JSON object per line, with the fields the Effect 3 JSON logger wrote (`message`, `logLevel`,
 * `timestamp`, `cause`, `annotations`, `spans`, `fiberId`), and `request_id` among the annotations of
 * lines written while serving a request.
 */
const jsonLineLogger = Logger.make<unknown, string>((options) => {
  const structured = Logger.formatStructured.log(options)
  const request = options.fiber.getRef(currentRequestLog)
  return Formatter.formatJson({
    message: structured.message,
    logLevel: structured.level,
    timestamp: structured.timestamp,
    cause: structured.cause,
    annotations:
      request === undefined
        ? structured.annotations
        : { ...structured.annotations, request_id: request.requestId },
    spans: structured.spans,
    fiberId: structured.fiberId
  })
})

/** The console logger of a format; the pretty one colours only when the terminal supports it. */
const consoleLogger = (format: Config.Success<typeof LogFormatConfig>) =>
  format === "pretty" ? Logger.consolePretty({ colors: "auto" }) : Logger.withConsoleLog(jsonLineLogger)

/**
 * Logs in the format LOG_FORMAT names (or the terminal implies), at the level LOG_LEVEL names. Provided
 * around the whole program (not as one layer among others) so that every fiber, request fibers
 * included, inherits it.
 */
export const LoggingLive = Layer.unwrap(
  Config.all({ level: LogLevelConfig, format: LogFormatConfig }).pipe(
    Effect.mapError(
      (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
    ),
    Effect.map(({ level, format }) =>
      Layer.merge(
        Logger.layer([consoleLogger(format)]),
        Layer.succeed(References.MinimumLogLevel, toLogLevel(level))
      )
    )
  )
)

/** A finalizer that logs once the named resource has been released, for an auditable shutdown. */
export const logReleased = (resource: string) =>
  Effect.addFinalizer(() => Effect.logInfo("released").pipe(Effect.annotateLogs("resource", resource)))
