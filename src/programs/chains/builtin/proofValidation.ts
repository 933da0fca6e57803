import { Effect, Schema } from "effect"
import * as Chain from "../Chain.ts"
import { retryMalformedOnce } from "../Retry.ts"
import { clamp, overlap, words } from "./text.ts"

export const ProofInput = Schema.Struct({
  task: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(500)),
  criteria: Schema.Array(Schema.String.check(Schema.isMaxLength(500)))
    .check(Schema.isMaxLength(20))
    .pipe(Schema.withDecodingDefaultTypeKey(Effect.sync(() => []))),
  proof_text: Schema.String.check(Schema.isMaxLength(5000))
})
export type ProofInput = typeof ProofInput.Type

export const ProofVerdict = Schema.Struct({
  is_valid: Schema.Boolean,
  confidence: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  notes: Schema.String,
  suggestions: Schema.Array(Schema.String),
  requires_manual_review: Schema.Boolean
})
export type ProofVerdict = typeof ProofVerdict.Type

/**
 * Without a model only the proof's substance can be judged: its length and how much of the task and
 * criteria it talks about. The heuristic is never fully confident and asks for a review when unsure.
 */
export const heuristicProofValidation = (input: ProofInput): ProofVerdict => {
  const count = words(input.proof_text).length
  const relevance = overlap(input.proof_text, `${input.task} ${input.criteria.join(" ")}`)
  const confidence =
    Math.round(clamp(0.3 + 0.4 * Math.min(1, count / 30) + 0.3 * relevance, 0, 0.9) * 100) / 100
  const is_valid = count >= 5 && confidence >= 0.5
  return {
    is_valid,
    confidence,
    notes: is_valid
      ? "The proof describes the work done."
      : "The proof is too short or does not mention the task.",
    suggestions: is_valid ? [] : ["Describe what you produced", "Mention the task's criteria"],
    requires_manual_review: confidence < 0.6
  }
}

export const proofValidation = Chain.make({
  name: "proof_validation",
  description: "Judges whether a proof of work shows the task was done.",
  input: ProofInput,
  output: ProofVerdict,
  retry: retryMalformedOnce,
  flow: Chain.prompt({
    name: "judge_proof",
    input: ProofInput,
    output: ProofVerdict,
    system:
      "You check proofs of completed focus work. Be fair, not gullible. Answer JSON: {is_valid, confidence (0-1), " +
      "notes, suggestions:[], requires_manual_review}.",
    prompt: (input) =>
      `Task: ${input.task}\nCriteria: ${input.criteria.join("; ") || "(none)"}\nProof:\n${input.proof_text}`,
    heuristic: heuristicProofValidation
  })
})
