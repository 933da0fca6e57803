import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { CATALOG, CATEGORIES, findItem, itemsInCategory, StoreItem } from "../src/domain/catalog.ts"

describe("store catalog", () => {
  it("has the 18 default items in six categories, every category stocked", () => {
    expect(CATALOG).toHaveLength(18)
    expect(CATEGORIES).toEqual(["rest", "entertainment", "food", "social", "wellness", "productivity"])
    for (const c of CATEGORIES) expect(itemsInCategory(c).length).toBeGreaterThan(0)
    expect(new Set(CATALOG.map((i) => i.id)).size).toBe(18)
    expect(new Set(CATALOG.map((i) => i.name)).size).toBe(18)
    for (const item of CATALOG) expect(Schema.decodeUnknownSync(StoreItem)(item)).toEqual(item)
  })

  it("keeps FocusForge's prices", () => {
    expect(findItem("quick-break-5m")).toMatchObject({
      name: "Quick Break (5m)",
      cost: 10,
      duration_minutes: 5
    })
    expect(findItem("Movie Night")).toMatchObject({ id: "movie-night", cost: 120, category: "entertainment" })
    expect(findItem("focus-music-premium")?.cost).toBe(8)
    expect(findItem("snack-attack")?.duration_minutes).toBeUndefined()
    expect(findItem("nope")).toBeUndefined()
  })
})
