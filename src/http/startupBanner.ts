import { Effect, Layer } from "effect"
import { HttpServer } from "effect/http"
import { AppConfig } from "../layers/config/AppConfig.ts"

/** Addresses that mean "every interface": not something a browser can open, so the banner names loopback. */
const ALL_INTERFACES = new Set(["0.0.0.0", "::", "[::]", ""])

/** The URL a person on this machine opens: `http://127.0.0.1:PORT` when bound to all addresses. */
export const reachableUrl = (host: string, port: number): string => {
  if (ALL_INTERFACES.has(host)) return `http://127.0.0.1:${port}`
  return host.includes(":") && !host.startsWith("[") ? `http://[${host}]:${port}` : `http://${host}:${port}`
}

/** The lines of the start-up banner: where the API, its docs and its OpenAPI document are, mode and data. */
export const bannerLines = (options: {
  readonly url: string
  readonly mode: string
  readonly dataDir: string
}): ReadonlyArray<string> => [
  "FocusForge is ready",
  `  API       ${options.url}/api/v1`,
  `  Docs      ${options.url}/docs`,
  `  OpenAPI   ${options.url}/openapi.json`,
  `  Mode      ${options.mode}`,
  `  Data dir  ${options.dataDir}`
]

/**
 * Logged once the server listens, after the platform's `Listening on …` line (which tests and
 * benchmarks wait for): the same facts as one log record, readable in the pretty format and with the
 * fields as annotations in JSON.
 */
export const StartupBannerLive = Layer.effectDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const server = yield* HttpServer.HttpServer
    const port = server.address._tag === "UnixPathAddress" ? config.port : server.address.port
    const url = reachableUrl(config.host, port)
    yield* Effect.logInfo(bannerLines({ url, mode: config.mode, dataDir: config.dataDir }).join("\n")).pipe(
      Effect.annotateLogs({
        url,
        docs: `${url}/docs`,
        openapi: `${url}/openapi.json`,
        mode: config.mode,
        data_dir: config.dataDir
      })
    )
  })
)
