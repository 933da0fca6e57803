import { Effect } from "effect"
import { HttpEffect, HttpServerResponse } from "effect/http"
import { Overloaded as ActorOverloaded } from "../../eventsourcing/EntityRuntime.ts"
import { Overloaded } from "../errors.ts"

/** Adds `Retry-After` to whatever response this request ends with (an error's included). */
export const setRetryAfter = (seconds: number) =>
  HttpEffect.appendPreResponseHandler((_, response) =>
    Effect.succeed(
      HttpServerResponse.setHeader(response, "retry-after", String(Math.max(1, Math.ceil(seconds))))
    )
  )

/** A full mailbox becomes the API's 503 `Overloaded` with `Retry-After`. */
export const answerOverloaded = <A, E, R>(
  self: Effect.Effect<A, E | ActorOverloaded, R>
): Effect.Effect<A, Exclude<E, ActorOverloaded> | Overloaded, R> =>
  Effect.catchIf(
    self,
    (error): error is ActorOverloaded => error instanceof ActorOverloaded,
    (error) =>
      Effect.andThen(
        setRetryAfter(error.retryAfterSeconds),
        Effect.fail(
          new Overloaded({
            message: `Too many requests queued for this resource; retry after ${error.retryAfterSeconds} s`,
            details: { retry_after_seconds: error.retryAfterSeconds }
          })
        )
      )
  ) as Effect.Effect<A, Exclude<E, ActorOverloaded> | Overloaded, R>

export const DEFAULT_PAGE = { limit: 20, offset: 0 } as const
