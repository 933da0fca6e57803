import { Schedule } from "effect"
import type { StepError } from "./Chain.ts"

/** Re-asks the model once when its reply did not fit the output Schema. */
export const retryMalformedOnce: Schedule.Schedule<unknown, StepError> = Schedule.while(
  Schedule.recurs(1).pipe(Schedule.setInputType<StepError>()),
  ({ input }) => input._tag === "MalformedResponse"
)
