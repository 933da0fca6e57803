import { HttpApiBuilder } from "@effect/platform"
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
      .handle("list", ({ urlParams }) =>
        Effect.flatMap(userId, (user) =>
          tasks.list(user, {
            status: urlParams.status,
            limit: urlParams.limit ?? DEFAULT_PAGE.limit,
            offset: urlParams.offset ?? DEFAULT_PAGE.offset
          })
        )
      )
      .handle("dashboard", () => Effect.flatMap(userId, tasks.dashboard).pipe(answerOverloaded))
      .handle("get", ({ path }) =>
        Effect.flatMap(userId, (user) => tasks.get(user, path.task_id)).pipe(answerOverloaded)
      )
      .handle("update", ({ path, payload }) =>
        Effect.flatMap(userId, (user) => tasks.update(user, path.task_id, payload)).pipe(answerOverloaded)
      )
      .handle("delete", ({ path }) =>
        Effect.flatMap(userId, (user) => tasks.remove(user, path.task_id)).pipe(answerOverloaded)
      )
      .handle("startBlock", ({ path }) =>
        Effect.flatMap(userId, (user) => tasks.startBlock(user, path.task_id, path.block_id)).pipe(
          answerOverloaded
        )
      )
      .handle("completeBlock", ({ path, payload }) =>
        Effect.flatMap(userId, (user) =>
          tasks.completeBlock(user, path.task_id, path.block_id, payload)
        ).pipe(answerOverloaded)
      )
  })
)
