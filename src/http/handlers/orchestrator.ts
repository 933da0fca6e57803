import type { HttpServerRequest } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Effect, Option } from "effect"
import { ChainExecutor } from "../../programs/chains/ChainExecutor.ts"
import { Memory } from "../../programs/memory/Memory.ts"
import { actionView, Orchestrator } from "../../programs/orchestrator/Orchestrator.ts"
import { Planner } from "../../programs/planner/Planner.ts"
import { FocusForgeApi } from "../Api.ts"
import { ChainInputRejected, ChainRunFailed } from "../api/OrchestratorApi.ts"
import { CurrentUser } from "../api/Security.ts"
import { AppConfig } from "../../layers/config/AppConfig.ts"
import { NotFound } from "../errors.ts"
import { isOperator } from "../exposure.ts"
import { answerOverloaded } from "./common.ts"

export const OrchestratorHandlers = HttpApiBuilder.group(FocusForgeApi, "orchestrator", (handlers) =>
  Effect.gen(function* () {
    const orchestrator = yield* Orchestrator
    const executor = yield* ChainExecutor
    const memory = yield* Memory
    const planner = yield* Planner
    const userId = Effect.map(CurrentUser, (principal): string => principal.user.id)
    return handlers
      .handle("createEnhanced", ({ payload }) =>
        Effect.flatMap(userId, (user) => orchestrator.createEnhanced(user, payload)).pipe(answerOverloaded)
      )
      .handle("completeEnhanced", ({ payload }) =>
        Effect.flatMap(userId, (user) => orchestrator.completeEnhanced(user, payload)).pipe(answerOverloaded)
      )
      .handle("dailyOptimization", ({ payload }) =>
        Effect.flatMap(userId, (user) => orchestrator.dailyOptimization(user, payload)).pipe(answerOverloaded)
      )
      .handle("focusSession", ({ payload }) =>
        Effect.flatMap(userId, (user) => orchestrator.focusSession(user, payload)).pipe(answerOverloaded)
      )
      .handle("executeChain", ({ params, payload }) =>
        Effect.flatMap(userId, (user) =>
          executor.runByName(params.chain_name, payload, { userId: user })
        ).pipe(
          Effect.catchTags({
            ChainNotFound: (e) => Effect.fail(new NotFound({ message: e.message })),
            ChainInputInvalid: (e) =>
              Effect.fail(
                new ChainInputRejected({
                  message: `invalid input for ${e.chain}`,
                  details: { issues: e.message }
                })
              ),
            ChainFailed: (e) =>
              Effect.fail(
                new ChainRunFailed({ message: e.message, details: { run_id: e.run_id, chain: e.chain } })
              )
          })
        )
      )
      .handle("chainRun", ({ params }) =>
        Effect.gen(function* () {
          const user = yield* userId
          const run = yield* executor.getRun(params.run_id)
          // Another user's run is as absent as a missing one.
          if (Option.isNone(run) || (run.value.user_id !== null && run.value.user_id !== user))
            return yield* new NotFound({ message: `no chain run ${params.run_id}` })
          return run.value
        })
      )
      .handle("userContext", () => Effect.flatMap(userId, memory.userContext))
      .handle("plannerActions", () =>
        Effect.flatMap(userId, (user) =>
          Effect.map(planner.actions(user), (actions) => actions.map(actionView))
        ).pipe(answerOverloaded)
      )
      .handle("plannerExecute", () =>
        Effect.gen(function* () {
          const user = yield* userId
          const report = yield* planner.tick(`http-${user}`, { userId: user })
          const actions = yield* planner.actions(user)
          return { report, actions: actions.map(actionView) }
        }).pipe(answerOverloaded)
      )
  })
)

export const OrchestratorStatusHandlers = HttpApiBuilder.group(
  FocusForgeApi,
  "orchestratorStatus",
  (handlers) =>
    Effect.gen(function* () {
      const orchestrator = yield* Orchestrator
      const { monitor } = yield* AppConfig
      // Anyone may see whether it is operational and which chains exist; the rest is the operator's.
      const statusFor = (request: HttpServerRequest.HttpServerRequest) =>
        Effect.map(orchestrator.status, (status) =>
          isOperator(monitor.token, request) ? status : { status: status.status, chains: status.chains }
        )
      return handlers
        .handle("status", ({ request }) => statusFor(request))
        .handle("statusV1", ({ request }) => statusFor(request))
    })
)
