import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, References, Tracer } from "effect"
import { withSpan } from "../src/layers/observability/spans.ts"

const parentName = Effect.map(Effect.serviceOption(Tracer.ParentSpan), (span) =>
  Option.map(span, (s) => (s._tag === "Span" ? s.name : "external"))
)

describe("withSpan", () => {
  it.effect("opens a span when tracing is on", () =>
    Effect.gen(function* () {
      expect(yield* parentName.pipe(withSpan("traced"))).toEqual(Option.some("traced"))
    })
  )

  it.effect("adds nothing, not even a no-op span, when the tracer is disabled (an unsampled request)", () =>
    Effect.gen(function* () {
      const inside = yield* parentName.pipe(
        withSpan("untraced"),
        Effect.provideService(References.TracerEnabled, false)
      )
      expect(inside).toEqual(Option.none())
    })
  )
})
