/** A new chain in a few lines, registered with the executor and served by the real API. Run: npx tsx examples/custom-chain.ts */
import { Effect, Layer, Schema } from "effect"
import { FocusForgeApi } from "../src/http/Api.ts"
import { ApiHandlersLive, makeServer } from "../src/http/Server.ts"
import { launch } from "../src/launch.ts"
import * as Chain from "../src/programs/chains/Chain.ts"
import { ChainExecutor } from "../src/programs/chains/ChainExecutor.ts"

const Goal = Schema.Struct({ goal: Schema.String.check(Schema.isMinLength(1)), minutes: Schema.Int })
const Plan = Schema.Struct({ first_step: Schema.String, minutes: Schema.Int })

export const firstStep = Chain.make({
  name: "first_step",
  description: "The smallest next step towards a goal.",
  input: Goal,
  output: Plan,
  flow: Chain.prompt({
    name: "next_step",
    input: Goal,
    output: Plan,
    system: 'Answer JSON {"first_step": string, "minutes": integer}: the smallest next step.',
    prompt: ({ goal, minutes }) => `Goal: ${goal}. Time available: ${minutes} minutes.`,
    // Used whenever the model does not answer; never cached.
    heuristic: ({ goal, minutes }) => ({
      first_step: `Spend 5 minutes outlining "${goal}"`,
      minutes: Math.min(5, minutes)
    })
  })
})

/** Registers the chain once the application's executor exists. */
export const FirstStepLive = Layer.effectDiscard(
  Effect.flatMap(ChainExecutor, (executor) => executor.register(firstStep))
)

// POST /api/v1/orchestrator/chains/execute/first_step {"goal": "...", "minutes": 25}
launch(makeServer(FocusForgeApi, ApiHandlersLive.pipe(Layer.provide(FirstStepLive))))
