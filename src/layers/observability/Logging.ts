import { Config, Context, Effect, Formatter, Layer, Logger, type LogLevel, References } from "effect"
import { describeConfigError, InvalidConfig, literalSetting } from "../config/AppConfig.ts"

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

/**
 * One log line per request (ACCESS_LOG). A person running the server at a terminal wants to see its
 * requests; behind nginx (which logs them) and in benchmarks nobody reads them and they would cost a
 * line per request. So unset it follows whether stdout is a terminal; `true` or `false` forces it.
 */
export const AccessLogConfig = literalSetting("ACCESS_LOG", ["true", "false"]).pipe(
  Config.withDefault(process.stdout.isTTY === true ? ("true" as const) : ("false" as const)),
  Config.map((setting) => setting === "true")
)

/**
 * Whether the HTTP server writes its access log: what ACCESS_LOG says, provided by `LoggingLive` (so a bad
 * value stops start-up before anything else, like LOG_FORMAT's). Servers built without it (tests) log none.
 */
export const AccessLogEnabled = Context.Reference<boolean>("focusforge/Logging/AccessLogEnabled", {
  defaultValue: () => false
})

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
 * Logs in the format LOG_FORMAT names (or the terminal implies), at the level LOG_LEVEL names, and says
 * whether requests are logged (ACCESS_LOG). Provided
 * around the whole program (not as one layer among others) so that every fiber, request fibers
 * included, inherits it.
 */
export const LoggingLive = Layer.unwrap(
  Config.all({ level: LogLevelConfig, format: LogFormatConfig, accessLog: AccessLogConfig }).pipe(
    Effect.mapError(
      (error) => new InvalidConfig({ message: `Invalid configuration: ${describeConfigError(error)}` })
    ),
    Effect.map(({ level, format, accessLog }) =>
      Layer.mergeAll(
        Logger.layer([consoleLogger(format)]),
        Layer.succeed(References.MinimumLogLevel, toLogLevel(level)),
        Layer.succeed(AccessLogEnabled, accessLog)
      )
    )
  )
)

/** A finalizer that logs once the named resource has been released, for an auditable shutdown. */
export const logReleased = (resource: string) =>
  Effect.addFinalizer(() => Effect.logInfo("released").pipe(Effect.annotateLogs("resource", resource)))
