import { Effect, Schema } from "effect"
import * as Chain from "../Chain.ts"
import { retryMalformedOnce } from "../Retry.ts"

const Scale = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 10 }))

export const MotivationInput = Schema.Struct({
  mood: Schema.Struct({
    score: Scale,
    energy: Scale.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(5))),
    stress: Scale.pipe(Schema.withDecodingDefaultTypeKey(Effect.succeed(5)))
  }).pipe(Schema.withDecodingDefaultTypeKey(Effect.sync(() => ({ score: 5, energy: 5, stress: 5 })))),
  challenge: Schema.String.check(Schema.isMaxLength(2000)).pipe(
    Schema.withDecodingDefaultTypeKey(Effect.succeed(""))
  ),
  accomplishments: Schema.Array(Schema.String.check(Schema.isMaxLength(500)))
    .check(Schema.isMaxLength(50))
    .pipe(Schema.withDecodingDefaultTypeKey(Effect.sync(() => [])))
})
export type MotivationInput = typeof MotivationInput.Type

export const Tone = Schema.Literals(["encouraging", "celebratory", "calming", "energizing"])

export const Motivation = Schema.Struct({
  message: Schema.String.check(Schema.isMinLength(1)),
  tone: Tone,
  suggested_actions: Schema.Array(Schema.String),
  follow_up_minutes: Schema.Int.check(Schema.isBetween({ minimum: 5, maximum: 24 * 60 }))
})
export type Motivation = typeof Motivation.Type

export const heuristicMotivation = (input: MotivationInput): Motivation => {
  const { score, energy, stress } = input.mood
  const done = input.accomplishments.length
  if (stress >= 7)
    return {
      message: "One block at a time. Breathe, pick the smallest next step and start there.",
      tone: "calming",
      suggested_actions: ["Take a 5-minute break", "Write down the single next step"],
      follow_up_minutes: 30
    }
  if (done > 0)
    return {
      message: `You have ${done} win${done === 1 ? "" : "s"} behind you today — keep the streak going.`,
      tone: "celebratory",
      suggested_actions: ["Start the next block", "Note what worked"],
      follow_up_minutes: 60
    }
  if (energy <= 3 || score <= 3)
    return {
      message: "Low energy is fine: a short 25-minute block still moves things forward.",
      tone: "encouraging",
      suggested_actions: ["Start a 25-minute block", "Drink some water"],
      follow_up_minutes: 45
    }
  return {
    message: input.challenge
      ? `You can take on "${input.challenge.slice(0, 80)}" — start now.`
      : "Good time to focus. Start your next block.",
    tone: "energizing",
    suggested_actions: ["Start the next block"],
    follow_up_minutes: 90
  }
}

export const motivation = Chain.make({
  name: "motivation",
  description: "A short motivating message suited to the user's mood, challenge and wins.",
  input: MotivationInput,
  output: Motivation,
  retry: retryMalformedOnce,
  flow: Chain.prompt({
    name: "encourage",
    input: MotivationInput,
    output: Motivation,
    system:
      "You are a warm, concise focus coach. Answer JSON: {message, tone: encouraging|celebratory|calming|energizing, " +
      "suggested_actions:[], follow_up_minutes (5-1440)}.",
    prompt: (input) =>
      `Mood ${input.mood.score}/10, energy ${input.mood.energy}/10, stress ${input.mood.stress}/10.\n` +
      `Challenge: ${input.challenge || "(none)"}\nAccomplishments: ${input.accomplishments.join("; ") || "(none)"}`,
    heuristic: heuristicMotivation
  })
})
