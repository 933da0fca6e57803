import { HttpApiBuilder } from "effect/http-api"
import { Effect } from "effect"
import { Tasks } from "../../programs/tasks.ts"
import { FocusForgeApi } from "../Api.ts"
import { CurrentUser } from "../api/Security.ts"
import { answerOverloaded, DEFAULT_PAGE } from "./common.ts"

/** Every handler acts as the token's user: the programs refuse other users' ids with "not found". */
export const TasksHandlers = HttpApiBuilder.group(FocusForgeApi, "tasks", (handlers) =>
  Effect.gen(function* () {
    const tasks = yield* Tasks
    const userId = Effect.map(CurrentUser, (principal) => principal.user.id)
    return handlers
      .handle("create", ({ payload }) =>
        Effect.flatMap(userId, (user) => tasks.create(user, payload)).pipe(answerOverloaded)
      )
      .handle("list", ({ query }) =>
        Effect.flatMap(userId, (user) =>
          tasks.list(user, {
            status: query.status,
            limit: query.limit ?? DEFAULT_PAGE.limit,
            offset: query.offset ?? DEFAULT_PAGE.offset
          })
        ).pipe(answerOverloaded)
      )
      .handle("dashboard", () => Effect.flatMap(userId, tasks.dashboard).pipe(answerOverloaded))
      .handle("get", ({ params }) =>
        Effect.flatMap(userId, (user) => tasks.get(user, params.task_id)).pipe(answerOverloaded)
      )
      .handle("update", ({ params, payload }) =>
        Effect.flatMap(userId, (user) => tasks.update(user, params.task_id, payload)).pipe(answerOverloaded)
      )
      .handle("delete", ({ params }) =>
        Effect.flatMap(userId, (user) => tasks.remove(user, params.task_id)).pipe(answerOverloaded)
      )
      .handle("startBlock", ({ params }) =>
        Effect.flatMap(userId, (user) => tasks.startBlock(user, params.task_id, params.block_id)).pipe(
          answerOverloaded
        )
      )
      .handle("completeBlock", ({ params, payload }) =>
        Effect.flatMap(userId, (user) =>
          tasks.completeBlock(user, params.task_id, params.block_id, payload)
        ).pipe(answerOverloaded)
      )
  })
)
