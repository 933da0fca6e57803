import { Duration, Schema } from "effect"

/**
 * Errors of one provider call. The optimizer retries and counts against the breaker only the faults of
 * the provider (timeouts, 429, 5xx, broken connections); a request the provider rejects (other 4xx) or a
 * reply that does not decode is the same on every attempt, so retrying it would only burn the budget.
 */
export class ProviderHttpError extends Schema.TaggedError<ProviderHttpError>()("ProviderHttpError", {
  status: Schema.Number,
  message: Schema.String,
  /** From the provider's `Retry-After` header, when it sent one. */
  retryAfter: Schema.optional(Schema.DurationFromMillis)
}) {}

export class ProviderConnectionError extends Schema.TaggedError<ProviderConnectionError>()(
  "ProviderConnectionError",
  { message: Schema.String }
) {}

/** One attempt took longer than the per-attempt timeout and was abandoned. */
export class ProviderTimeout extends Schema.TaggedError<ProviderTimeout>()("ProviderTimeout", {
  after: Schema.DurationFromMillis
}) {}

/** The reply was not JSON, or did not decode with the expected Schema. Never retried. */
export class MalformedResponse extends Schema.TaggedError<MalformedResponse>()("MalformedResponse", {
  message: Schema.String
}) {}

/** The configured provider cannot answer this kind of request (the built-in heuristic provider). */
export class ModelUnavailable extends Schema.TaggedError<ModelUnavailable>()("ModelUnavailable", {
  provider: Schema.String,
  message: Schema.String
}) {}

export type ProviderFailure =
  | ProviderHttpError
  | ProviderConnectionError
  | ProviderTimeout
  | MalformedResponse

/** The breaker is open (or its half-open probes are all taken); nothing was sent to the provider. */
export class CircuitOpen extends Schema.TaggedError<CircuitOpen>()("CircuitOpen", {
  retryAfter: Schema.DurationFromMillis
}) {}

/** The rate limit would have made this call wait longer than its bound; nothing was sent. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfter: Schema.DurationFromMillis
}) {}

/** All provider slots are busy and the wait queue is full; nothing was sent. */
export class BulkheadFull extends Schema.TaggedError<BulkheadFull>()("BulkheadFull", {
  maxConcurrent: Schema.Number,
  maxQueue: Schema.Number
}) {}

/** The call, retries included, did not finish within its overall deadline. */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  after: Schema.DurationFromMillis
}) {}

export type OptimizerRejection = CircuitOpen | RateLimited | BulkheadFull | DeadlineExceeded

export const isProviderFailure = (error: { readonly _tag: string }): error is ProviderFailure =>
  error._tag === "ProviderHttpError" ||
  error._tag === "ProviderConnectionError" ||
  error._tag === "ProviderTimeout" ||
  error._tag === "MalformedResponse"

export const isRetryable = (error: ProviderFailure): boolean => {
  switch (error._tag) {
    case "ProviderHttpError":
      return error.status === 408 || error.status === 429 || error.status >= 500
    case "ProviderConnectionError":
    case "ProviderTimeout":
      return true
    case "MalformedResponse":
      return false
  }
}

/** Parses `Retry-After` as delta-seconds or an HTTP date, relative to `now`. */
export const parseRetryAfter = (header: string | undefined, now: number): Duration.Duration | undefined => {
  if (header === undefined) return undefined
  const trimmed = header.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Duration.millis(Math.round(Number(trimmed) * 1000))
  const date = Date.parse(trimmed)
  if (Number.isNaN(date)) return undefined
  return Duration.millis(Math.max(0, date - now))
}
