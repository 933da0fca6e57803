import { Effect, Schema } from "effect"
import { randomUUID } from "node:crypto"
import { TaskEvent } from "../../src/domain/task.ts"
import { EventStore } from "../../src/eventsourcing/EventStore.ts"

const encode = Schema.encodeSync(TaskEvent)

/** Appends a task event straight to the store, as another writer (another process, an actor) would. */
export const appendTaskEvent = (event: TaskEvent, expected: "noStream" | number) =>
  Effect.flatMap(EventStore, (store) =>
    store.append(`task-${event.task_id}`, expected, [
      {
        eventId: randomUUID(),
        type: event._tag,
        data: encode(event),
        metadata: { timestamp: new Date().toISOString() }
      }
    ])
  )
