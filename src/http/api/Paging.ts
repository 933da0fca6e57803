import { Schema } from "effect"

/** Page parameters shared by the listings. */
export const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 100))
export const Offset = Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 1_000_000))
