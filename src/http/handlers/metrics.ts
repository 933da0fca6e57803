import { Effect, Layer, Option, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { AppConfig } from "../../layers/config/AppConfig.ts"
import { Monitor } from "../../layers/observability/Monitor.ts"
import { Instrumentation } from "../../programs/instrumentation.ts"
import { FocusForgeApi } from "../Api.ts"
import { MetricsAuth } from "../api/MetricsApi.ts"
import { Unauthorized } from "../errors.ts"
import { sameToken } from "../exposure.ts"

export const MetricsAuthLive = Layer.effect(
  MetricsAuth,
  Effect.map(AppConfig, ({ monitor }) =>
    MetricsAuth.of({
      metricsToken: (httpEffect, { credential }) =>
        Option.match(monitor.token, {
          onNone: () => httpEffect,
          onSome: (expected) =>
            sameToken(Redacted.value(credential), Redacted.value(expected))
              ? httpEffect
              : Effect.fail(new Unauthorized({ message: "A valid metrics bearer token is required" }))
        })
    })
  )
)

export const MetricsHandlers = HttpApiBuilder.group(FocusForgeApi, "metrics", (handlers) =>
  Effect.gen(function* () {
    const monitor = yield* Monitor
    const instrumentation = yield* Instrumentation
    return handlers
      .handle("metrics", () =>
        instrumentation.sample.pipe(Effect.andThen(Effect.promise(() => monitor.registry.metrics())))
      )
      .handle("performance", () => monitor.performance)
  })
).pipe(Layer.provide(MetricsAuthLive))
