import { Effect, type Fiber } from "effect"
import { currentRequestLog, type RequestLogContext } from "../layers/observability/Logging.ts"
import { UNMATCHED_ROUTE } from "../layers/observability/RequestStats.ts"

/**
 * What is known about the request a fiber serves, filled in as it goes: its id (which the logger adds
 * to every line, see `currentRequestLog`), when it started, the route template that matched and the
 * `_tag` of the error it is answered with. Requests no route matched keep the `unmatched` label, so raw
 * paths never become label values.
 *
 * It is the request's only per-request context write: the observing middleware provides it once as
 * `currentRequestLog`, and the route and error tag are written into it rather than into the context.
 */
export class Observation implements RequestLogContext {
  route: string = UNMATCHED_ROUTE
  errorTag: string | undefined = undefined
  constructor(
    readonly requestId: string,
    readonly started: number
  ) {}
}

export const observationOf = (fiber: Fiber.Fiber<unknown, unknown>): Observation | undefined => {
  const current = fiber.getRef(currentRequestLog)
  return current instanceof Observation ? current : undefined
}

/** Called with every error the API answers with, to count errors by `_tag`. */
export const noteErrorTag = (error: unknown): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    const observation = observationOf(fiber)
    if (observation !== undefined && typeof error === "object" && error !== null && "_tag" in error) {
      observation.errorTag = String(error._tag)
    }
    return Effect.void
  })
