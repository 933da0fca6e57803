import { Result } from "effect"
import type { Decider } from "../../src/domain/Decider.ts"

export interface Step<S, C, E, Err> {
  readonly command: C
  readonly before: S
  readonly after: S
  readonly result: Result.Result<ReadonlyArray<E>, Err>
}

/** Runs commands through a decider as an actor would: decide on the current state, fold the events. */
export const runCommands = <S, C, E, Err>(
  decider: Decider<S, C, E, Err>,
  commands: ReadonlyArray<C>,
  initial: S = decider.initialState
) => {
  const steps: Array<Step<S, C, E, Err>> = []
  let state = initial
  for (const command of commands) {
    const result = decider.decide(state, command)
    const before = state
    if (Result.isSuccess(result)) state = result.success.reduce(decider.evolve, state)
    steps.push({ command, before, after: state, result })
  }
  const events = steps.flatMap((s) => (Result.isSuccess(s.result) ? s.result.success : []))
  return { state, steps, events }
}

/** Decides one command that must succeed; returns its events and the next state. */
export const decideOk = <S, C, E, Err>(decider: Decider<S, C, E, Err>, state: S, command: C) => {
  const result = decider.decide(state, command)
  if (Result.isFailure(result)) throw new Error(`expected success, got ${JSON.stringify(result.failure)}`)
  return { events: result.success, state: result.success.reduce(decider.evolve, state) }
}

export const decideErr = <S, C, E, Err>(decider: Decider<S, C, E, Err>, state: S, command: C): Err => {
  const result = decider.decide(state, command)
  if (Result.isSuccess(result)) throw new Error(`expected failure, got ${JSON.stringify(result.success)}`)
  return result.failure
}

export const day = (n: number, hour = 12): Date => new Date(Date.UTC(2025, 0, 1 + n, hour))
