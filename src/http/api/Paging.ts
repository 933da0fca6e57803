import { Schema } from "effect"

/** Bounds of the page parameters, shared with the OpenAPI document (src/http/openapi.ts). */
export const LimitBounds = { minimum: 1, maximum: 100 } as const
export const OffsetBounds = { minimum: 0, maximum: 1_000_000 } as const

/** Page parameters shared by the listings (query strings: HttpApi decodes them from their string form). */
export const Limit = Schema.Int.check(Schema.isBetween(LimitBounds))
export const Offset = Schema.Int.check(Schema.isBetween(OffsetBounds))
