import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { builtWithOnly } from "../src/http/narrowContext.ts"

class Used extends Context.Service<Used, { readonly n: number }>()("test/Used") {}
class Unused extends Context.Service<Unused, { readonly s: string }>()("test/Unused") {}
class Captured extends Context.Service<Captured, { readonly keys: ReadonlyArray<string> }>()(
  "test/Captured"
) {}

/** Like `HttpApiBuilder.group`: keeps the context it was built in. */
const capturing = Layer.effect(
  Captured,
  Effect.gen(function* () {
    yield* Used
    const context = yield* Effect.context<never>()
    return { keys: [...context.mapUnsafe.keys()] }
  })
)

describe("builtWithOnly", () => {
  it.effect("builds a layer in a context of the named services only", () =>
    Effect.gen(function* () {
      const keys = (yield* Captured).keys
      expect(keys).toContain(Used.key)
      expect(keys).not.toContain(Unused.key)
    }).pipe(
      Effect.provide(
        capturing.pipe(
          builtWithOnly(Used),
          Layer.provide(Layer.mergeAll(Layer.succeed(Used, { n: 1 }), Layer.succeed(Unused, { s: "x" })))
        )
      )
    )
  )

  it.effect("without it, the layer keeps everything around it", () =>
    Effect.gen(function* () {
      expect((yield* Captured).keys).toContain(Unused.key)
    }).pipe(
      Effect.provide(
        capturing.pipe(
          Layer.provide(Layer.mergeAll(Layer.succeed(Used, { n: 1 }), Layer.succeed(Unused, { s: "x" })))
        )
      )
    )
  )
})
