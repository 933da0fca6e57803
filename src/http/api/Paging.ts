import { Schema } from "effect"

/** Page parameters shared by the listings (query strings: HttpApi decodes them from their string form). */
export const Limit = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 100 }))
export const Offset = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))
