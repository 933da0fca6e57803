import { Schema, SchemaIssue } from "effect"

/**
 * Every failure that reaches a client has this shape: a stable `_tag` to branch on, a human-readable
 * `message`, and optional machine-readable `details` (for a decode error: the offending fields).
 * The HTTP status of each is its `httpApiStatus` annotation, which HttpApi reads.
 */
export const JsonValue = Schema.Unknown.annotate({ description: "Any JSON value" })

const envelope = {
  message: Schema.String,
  details: Schema.optional(JsonValue)
}

export const FieldIssue = Schema.Struct({
  path: Schema.Array(Schema.Union([Schema.String, Schema.Number])),
  message: Schema.String
}).annotate({ identifier: "FieldIssue" })

export class ValidationError extends Schema.TaggedError<ValidationError>()(
  "ValidationError",
  { message: Schema.String, details: Schema.Struct({ issues: Schema.Array(FieldIssue) }) },
  { httpApiStatus: 400, description: "The request did not match the expected schema" }
) {}

export class MalformedRequest extends Schema.TaggedError<MalformedRequest>()("MalformedRequest", envelope, {
  httpApiStatus: 400,
  description: "The request body could not be parsed"
}) {}

export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", envelope, {
  httpApiStatus: 401,
  description: "Missing, expired or invalid credentials"
}) {}

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", envelope, {
  httpApiStatus: 404,
  description: "No such resource"
}) {}

export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()("PayloadTooLarge", envelope, {
  httpApiStatus: 413,
  description: "The request body exceeds the size limit"
}) {}

export class InternalError extends Schema.TaggedError<InternalError>()("InternalError", envelope, {
  httpApiStatus: 500,
  description: "An unexpected failure; the request id identifies it in the logs"
}) {}

export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  envelope,
  { httpApiStatus: 503, description: "The service cannot take this request right now" }
) {}

/**
 * An entity's mailbox is full. Answered 503 with `Retry-After` (and the same number of seconds in
 * `details`), so clients and proxies know when to come back.
 */
export class Overloaded extends Schema.TaggedError<Overloaded>()(
  "Overloaded",
  { message: Schema.String, details: Schema.Struct({ retry_after_seconds: Schema.Int }) },
  { httpApiStatus: 503, description: "Too many commands queued for this resource; see Retry-After" }
) {}

/**
 * The event store did not answer within its bound (`MONGODB_OPERATION_TIMEOUT_MS`): a primary being
 * elected, a majority out of reach, a store saturated. Answered 503 with `Retry-After` (the same
 * seconds in `details`) by the error envelope on every endpoint; a write's outcome is unknown, and
 * re-sending it is safe where the endpoint is idempotent.
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>()(
  "StoreUnavailable",
  { message: Schema.String, details: Schema.Struct({ retry_after_seconds: Schema.Int }) },
  { httpApiStatus: 503, description: "The event store did not answer in time; see Retry-After" }
) {}

// ---------------------------------------------------------------------------------------------
// Redaction of secrets in validation errors

/** Fields whose values are secrets: a validation error names them but never shows what was sent. */
export const SENSITIVE_FIELDS: ReadonlySet<string> = new Set([
  "password",
  "new_password",
  "current_password",
  "token",
  "access_token",
  "refresh_token",
  "authorization",
  "secret"
])

const isSensitiveKey = (key: PropertyKey): boolean =>
  typeof key === "string" && SENSITIVE_FIELDS.has(key.toLowerCase())

/** A copy of `issue` (same class, same fields) with `input` dropped, and `children` for its sub-issues. */
const rebuilt = (
  issue: SchemaIssue.Issue,
  children: (child: SchemaIssue.Issue) => SchemaIssue.Issue,
  dropInput: boolean
) => {
  const copy: Record<PropertyKey, unknown> = Object.create(Object.getPrototypeOf(issue))
  for (const key of Reflect.ownKeys(issue)) {
    if (dropInput && key === "input") continue
    const value: unknown = Reflect.get(issue, key)
    copy[key] =
      key === "issue" && SchemaIssue.isIssue(value)
        ? children(value)
        : key === "issues" && Array.isArray(value)
          ? value.map((child: SchemaIssue.Issue) => children(child))
          : value
  }
  return copy as unknown as SchemaIssue.Issue
}

/**
 * The issue tree with every reported input removed where it could hold a secret: anywhere under a
 * sensitive field (`password`, `token`, `authorization`, …), and any object or array input (a whole
 * body echoed back would carry its password). Messages then say what was expected, not what was sent:
 * `Expected a string, got "hunter2"` becomes `Expected a string`.
 */
export const redactIssue = (issue: SchemaIssue.Issue, sensitive = false): SchemaIssue.Issue => {
  const below = sensitive || (issue._tag === "Pointer" && issue.path.some(isSensitiveKey))
  const input: unknown = SchemaIssue.hasInput(issue) ? issue.input : undefined
  const dropInput = below || (typeof input === "object" && input !== null)
  return rebuilt(issue, (child) => redactIssue(child, below), dropInput)
}
