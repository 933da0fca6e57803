import { Effect, Layer } from "effect"
import { BlockId, TaskId, UserId } from "../../domain/ids.ts"
import { Tasks } from "../tasks.ts"
import { TaskPort } from "./TaskPort.ts"

/** The orchestrator's view of the task program. Ids reaching here were validated at the edge. */
export const TasksTaskPort = Layer.effect(
  TaskPort,
  Effect.map(Tasks, (tasks) =>
    TaskPort.of({
      create: (userId, input) => tasks.create(UserId.make(userId), input),
      ensureCanCreate: (userId) => tasks.ensureCanCreate(UserId.make(userId)),
      get: (userId, taskId) => tasks.get(UserId.make(userId), TaskId.make(taskId)),
      startBlock: (userId, taskId, blockId) =>
        Effect.map(
          tasks.startBlock(UserId.make(userId), TaskId.make(taskId), BlockId.make(blockId)),
          (result) => result.task
        ),
      completeBlock: (userId, taskId, blockId, input) =>
        tasks.completeBlock(UserId.make(userId), TaskId.make(taskId), BlockId.make(blockId), input)
    })
  )
)
