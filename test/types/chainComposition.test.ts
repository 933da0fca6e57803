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
const ok = Chain.andThen(estimate, plan)

// @ts-expect-error plan produces { blocks }, estimate needs { title }
const reversed = Chain.andThen(plan, estimate)

// @ts-expect-error estimate's output { minutes } is not plan's output type
const wrongChainOutput = Chain.make({ name: "bad", input: Title, output: Plan, flow: estimate })

// Parallel branches must accept the same input: a branch that needs { minutes } cannot join one fed { title }.
const fanOut = Chain.andThen(
  Chain.parallel({ a: estimate, b: Chain.identity<{ title: string }>() }),
  Chain.map(Chain.identity<{ a: { minutes: number }; b: { title: string } }>(), (x) => x)
)

// @ts-expect-error the parallel step yields { a, b }; plan wants { minutes }
const parallelThenWrong = Chain.andThen(Chain.parallel({ a: estimate, b: estimate }), plan)

const parallelInput: Chain.Flow<{ title: string; minutes: number }, unknown, never> = Chain.parallel({
  a: estimate,
  b: plan
})

// @ts-expect-error the parallel flow needs both { title } and { minutes }
const parallelMissingInput: Chain.Flow<{ title: string }, unknown, never> = Chain.parallel({
  a: estimate,
  b: plan
})

// Referenced so the compiler keeps checking every line above.
const typeChecked = [
  reversed,
  wrongChainOutput,
  fanOut,
  parallelThenWrong,
  parallelInput,
  parallelMissingInput
]

describe("chain composition types", () => {
  it("every composition above is a value (the type errors are tsc's to report)", () => {
    expect(typeChecked).toHaveLength(6)
  })

  it.effect("a well-typed composition runs", () =>
    Effect.gen(function* () {
      const run: Chain.StepRunner = (step, input) => Effect.orDie(step.run(input))
      expect(yield* ok.interpret(run)({ title: "four" })).toEqual({ blocks: [4] })
    })
  )
})
