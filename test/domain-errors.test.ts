import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import {
  InsufficientFunds,
  ItemNotFound,
  TaskNotFound,
  BlockNotFound,
  BlockNotStarted,
  TaskAlreadyExists,
  InvalidTransition,
  InvalidInput,
  RewardNotFound,
  RewardExpired,
  RewardAlreadyUsed,
  EmailTaken,
  AccountAlreadyRegistered,
  AccountNotFound,
  InvalidCredentials,
  LoginThrottled,
  RegistrationThrottled,
  insufficientFunds
} from "../src/domain/errors.ts"

/**
 * The status HttpApi answers with when an endpoint fails with `error` (v3 `HttpApiSchema.getStatusError`;
 * v4's is internal): the error responses of a one-endpoint API's OpenAPI document, besides its 204 success.
 */
const errorStatuses = (error: Schema.Top): ReadonlyArray<string> => {
  const api = HttpApi.make("statuses").add(
    HttpApiGroup.make("errors").add(HttpApiEndpoint.get("fail", "/fail", { error }))
  )
  const responses = OpenApi.fromApi(api).paths["/fail"]?.get?.responses ?? {}
  return Object.keys(responses).filter((status) => status !== "204")
}

describe("domain errors", () => {
  it("map to their HTTP statuses", () => {
    const statuses: ReadonlyArray<readonly [Schema.Top, number]> = [
      [InsufficientFunds, 409],
      [ItemNotFound, 404],
      [TaskNotFound, 404],
      [BlockNotFound, 404],
      [BlockNotStarted, 409],
      [TaskAlreadyExists, 409],
      [InvalidTransition, 409],
      [InvalidInput, 422],
      [RewardNotFound, 404],
      [RewardExpired, 410],
      [RewardAlreadyUsed, 409],
      [EmailTaken, 409],
      [AccountAlreadyRegistered, 409],
      [AccountNotFound, 404],
      [InvalidCredentials, 401],
      [LoginThrottled, 429],
      [RegistrationThrottled, 429]
    ]
    for (const [schema, status] of statuses) expect(errorStatuses(schema)).toEqual([String(status)])
  })

  it("encode to the error envelope { _tag, message, details }", () => {
    const json = Schema.encodeSync(InsufficientFunds)(insufficientFunds(5, 10))
    expect(json).toEqual({
      _tag: "InsufficientFunds",
      message: "Not enough tokens: need 10, have 5",
      details: { balance: 5, required: 10 }
    })
  })
})
