import { Context, Effect, Layer } from "effect"

/**
 * Builds `layer` in a context holding only `keys`, taken from the context it would have been built in.
 *
 * Why: `HttpApiBuilder.group` captures the whole context its layer is built in (here the application's
 * ~50 services) and merges it into the context of every request its endpoints serve (a copy of every
 * entry, per request). A group built with only what its handlers use merges a handful. The type says
 * every service the layer requires must be among `keys`, so nothing it needs can be left out.
 */
export const builtWithOnly =
  <const Keys extends ReadonlyArray<Context.Key<unknown, unknown>>>(...keys: Keys) =>
  <ROut, E, RIn extends Context.Service.Identifier<Keys[number]>>(
    layer: Layer.Layer<ROut, E, RIn>
  ): Layer.Layer<ROut, E, RIn> =>
    Layer.fromBuild((memoMap, scope) =>
      Effect.flatMap(Effect.context<RIn>(), (context) =>
        Layer.buildWithMemoMap(layer, memoMap, scope).pipe(
          Effect.updateContext(() => Context.pick(...keys)(context))
        )
      )
    )
