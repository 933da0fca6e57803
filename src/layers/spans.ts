import { Effect, type Tracer } from "effect"

/**
 * `Effect.withSpan` without the call-site stack trace. `withSpan` captures one each time it is applied
 * (a `new Error()` and its stack), and the programs apply theirs per call, so per request; the span's
 * name already says where it comes from.
 */
export const withSpan = (name: string, options?: Tracer.SpanOptionsNoTrace) =>
  Effect.withSpan(name, options, { captureStackTrace: false })
