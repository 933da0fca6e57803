import { Effect, References, type Tracer } from "effect"

/**
 * `Effect.withSpan` without the call-site stack trace, and without any span while tracing is off.
 * `withSpan` captures a stack each time it is applied (a `new Error()`), and the programs apply theirs per
 * call, so per request; the span's name already says where it comes from. With the tracer disabled (an
 * unsampled request, or no OTLP endpoint) `withSpan` still makes a no-op span, adds it to the context and
 * ends it: work nobody sees, on most requests. Here the effect then runs as it is.
 */
export const withSpan = (name: string, options?: Tracer.SpanOptionsNoTrace) => {
  const spanned = Effect.withSpan(name, options, { captureStackTrace: false })
  return <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiber((fiber) => (fiber.getRef(References.TracerEnabled) ? spanned(self) : self))
}
