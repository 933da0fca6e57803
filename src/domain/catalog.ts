import { Schema } from "effect"
import { ItemId } from "./ids.ts"

export const Category = Schema.Literals([
  "rest",
  "entertainment",
  "food",
  "social",
  "wellness",
  "productivity"
])
export type Category = typeof Category.Type

export const CATEGORIES: ReadonlyArray<Category> = Category.literals

export const StoreItem = Schema.Struct({
  id: ItemId,
  name: Schema.String,
  description: Schema.String,
  category: Category,
  cost: Schema.Int.check(Schema.isGreaterThan(0)),
  /** How long the reward lasts once used; items without one (a snack, an upgrade) have none. */
  duration_minutes: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0)))
}).annotate({ identifier: "StoreItem" })
export type StoreItem = typeof StoreItem.Type

const item = (
  id: string,
  name: string,
  category: Category,
  cost: number,
  description: string,
  duration_minutes?: number
): StoreItem => ({
  id: ItemId.make(id),
  name,
  description,
  category,
  cost,
  ...(duration_minutes === undefined ? {} : { duration_minutes })
})

/**
 * The default store of FocusForge: 18 items in six categories, prices and durations as the app knows
 * them. Prices live here, never in a request: a purchase names an item and the wallet looks its
 * price up, so a client cannot set what it pays.
 */
export const CATALOG: ReadonlyArray<StoreItem> = [
  item("quick-break-5m", "Quick Break (5m)", "rest", 10, "5-minute mindful break", 5),
  item("coffee-break", "Coffee Break", "rest", 15, "Enjoy a coffee or tea break", 10),
  item(
    "extended-break-15m",
    "Extended Break (15m)",
    "rest",
    25,
    "15-minute break to stretch and refresh",
    15
  ),
  item("power-nap-20m", "Power Nap (20m)", "rest", 35, "20-minute rejuvenating power nap", 20),
  item("music-session", "Music Session", "entertainment", 12, "Listen to your favorite playlist"),
  item(
    "youtube-tiktok-15m",
    "YouTube/TikTok Time (15m)",
    "entertainment",
    30,
    "15 minutes of social media scrolling",
    15
  ),
  item(
    "gaming-session-30m",
    "Gaming Session (30m)",
    "entertainment",
    60,
    "30 minutes of guilt-free gaming",
    30
  ),
  item("movie-night", "Movie Night", "entertainment", 120, "Evening movie or series binge", 120),
  item("snack-attack", "Snack Attack", "food", 20, "Treat yourself to a favorite snack"),
  item("dessert-reward", "Dessert Reward", "food", 35, "Indulge in a sweet treat"),
  item("fancy-coffee", "Fancy Coffee", "food", 40, "Order that expensive coffee you love"),
  item("walk-outside", "Walk Outside", "social", 15, "Take a refreshing walk outdoors", 20),
  item("call-a-friend", "Call a Friend", "social", 25, "Guilt-free social time with friends"),
  item("creative-time", "Creative Time", "social", 45, "Work on a personal creative project", 60),
  item("meditation-session", "Meditation Session", "wellness", 20, "10-minute mindfulness meditation", 10),
  item("bubble-bath", "Bubble Bath", "wellness", 50, "Relaxing bath with all the extras", 30),
  item("focus-music-premium", "Focus Music Premium", "productivity", 8, "Unlock premium focus playlists"),
  item("workspace-upgrade", "Workspace Upgrade", "productivity", 80, "Small upgrade for your workspace")
]

const byId = new Map(CATALOG.map((i) => [i.id as string, i]))
const byName = new Map(CATALOG.map((i) => [i.name.toLowerCase(), i]))

/** Looks an item up by id, or by its display name (the original API addressed items by name). */
export const findItem = (idOrName: string): StoreItem | undefined =>
  byId.get(idOrName) ?? byName.get(idOrName.trim().toLowerCase())

export const itemsInCategory = (category: Category): ReadonlyArray<StoreItem> =>
  CATALOG.filter((i) => i.category === category)
