/**
 * A confusable skeleton after Unicode UTS #39 (section 4): two strings that look alike have the same
 * skeleton, so `аnn@x.com` (Cyrillic а) and `ann@x.com` collide. The algorithm is the standard's
 * (NFD, map every character to its prototype, NFD again); the table is a deliberate subset of
 * `confusables.txt`: the Cyrillic, Greek and Armenian letters that pass for lower-case Latin ones, a few
 * Latin variants, and the ASCII look-alikes `0`/`o`, `1`/`l`, `rn`/`m`, `vv`/`w`. Full-width forms and
 * compatibility letters (`ℓ`, `ｅ`) are folded before, by NFKC. Input is expected lower-cased.
 */
const SINGLE: ReadonlyMap<string, string> = new Map(
  Object.entries({
    // Cyrillic
    а: "a",
    в: "b",
    с: "c",
    ԁ: "d",
    е: "e",
    һ: "h",
    і: "i",
    ј: "j",
    к: "k",
    ӏ: "l",
    м: "m",
    н: "h",
    о: "o",
    р: "p",
    ԛ: "q",
    г: "r",
    ѕ: "s",
    т: "t",
    ц: "u",
    ѵ: "v",
    ԝ: "w",
    ѡ: "w",
    х: "x",
    у: "y",
    ү: "y",
    // Greek
    α: "a",
    β: "b",
    ϲ: "c",
    ε: "e",
    η: "n",
    ι: "i",
    ϳ: "j",
    κ: "k",
    ν: "v",
    ο: "o",
    ρ: "p",
    τ: "t",
    υ: "u",
    χ: "x",
    γ: "y",
    ω: "w",
    // Armenian
    հ: "h",
    ո: "n",
    օ: "o",
    ս: "u",
    զ: "q",
    ց: "g",
    // Latin variants and ASCII look-alikes
    ı: "i",
    ɩ: "i",
    ǀ: "l",
    ɡ: "g",
    "0": "o",
    "1": "l",
    "|": "l"
  })
)

/** Sequences that read as one letter; applied after the single-character map. */
const SEQUENCES: ReadonlyArray<readonly [string, string]> = [
  ["rn", "m"],
  ["vv", "w"]
]

export const skeleton = (text: string): string => {
  let mapped = ""
  for (const char of text.normalize("NFD")) mapped += SINGLE.get(char) ?? char
  for (const [from, to] of SEQUENCES) mapped = mapped.replaceAll(from, to)
  return mapped.normalize("NFD")
}
