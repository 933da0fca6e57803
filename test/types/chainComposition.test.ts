import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as Chain from "../../src/programs/chains/Chain.ts"

/**
 * Type-level proof, checked by `tsc --noEmit` (this file is in the project): composing steps whose
 * types do not line up fails to compile. Each `@ts-expect-error` would itself be an error if the line
 * under it compiled, so a regression in the DSL's types breaks the typecheck.
 */

const Title = Schema.Struct({ title: Schema.String })
const Minutes = Schema.Struct({ minutes: Schema.Number })
const Plan = Schema.Struct({ blocks: Schema.Array(Schema.Number) })

const estimate = Chain.step({
  name: "estimate",
  input: Title,
  output: Minutes,
  run: (input) => Effect.succeed({ minutes: input.title.length })
})
const plan = Chain.step({
  name: "plan",
  input: Minutes,
  output: Plan,
  run: (input) => Effect.succeed({ blocks: [input.minutes] })
})

// Lines up: Title → Minutes → Plan.
export const ok = Chain.andThen(estimate, plan)

// @ts-expect-error plan produces { blocks }, estimate needs { title }
export const reversed = Chain.andThen(plan, estimate)

// @ts-expect-error estimate's output { minutes } is not plan's output type
export const wrongChainOutput = Chain.make({ name: "bad", input: Title, output: Plan, flow: estimate })

// Parallel branches must accept the same input: a branch that needs { minutes } cannot join one fed { title }.
export const fanOut = Chain.andThen(
  Chain.parallel({ a: estimate, b: Chain.identity<{ title: string }>() }),
  Chain.map(Chain.identity<{ a: { minutes: number }; b: { title: string } }>(), (x) => x)
)

// @ts-expect-error the parallel step yields { a, b }; plan wants { minutes }
export const parallelThenWrong = Chain.andThen(Chain.parallel({ a: estimate, b: estimate }), plan)

export const parallelInput: Chain.Flow<{ title: string; minutes: number }, unknown, never> = Chain.parallel({
  a: estimate,
  b: plan
})

// @ts-expect-error the parallel flow needs both { title } and { minutes }
export const parallelMissingInput: Chain.Flow<{ title: string }, unknown, never> = Chain.parallel({
  a: estimate,
  b: plan
})

describe("chain composition types", () => {
  it.effect("a well-typed composition runs", () =>
    Effect.gen(function* () {
      const run: Chain.StepRunner = (step, input) => Effect.orDie(step.run(input))
      expect(yield* ok.interpret(run)({ title: "four" })).toEqual({ blocks: [4] })
    })
  )
})
