/**
 * How deeply a JSON body may nest arrays and objects. Our schemas never need more than a handful of
 * levels; the limit exists because everything downstream of `JSON.parse` (schema decoding, issue
 * formatting, logging, re-encoding) walks values recursively, and a body of a million `[` would take
 * one of them past the stack.
 */
export const MAX_JSON_DEPTH = 64

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_ARRAY = 0x5b
const OPEN_OBJECT = 0x7b
const CLOSE_ARRAY = 0x5d
const CLOSE_OBJECT = 0x7d

/**
 * Whether `text` nests `[`/`{` deeper than `limit`, in one pass without allocating: brackets inside
 * strings do not count (a backslash escapes the next character, so `"\""` stays one string). Malformed
 * text is not judged here: `JSON.parse` refuses it next. The scan stops at the first level too deep,
 * so its cost is bounded by the body size limit either way.
 */
export const nestsDeeperThan = (text: string, limit: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === BACKSLASH) i++
      else if (code === QUOTE) inString = false
    } else if (code === QUOTE) {
      inString = true
    } else if (code === OPEN_ARRAY || code === OPEN_OBJECT) {
      if (++depth > limit) return true
    } else if (code === CLOSE_ARRAY || code === CLOSE_OBJECT) {
      depth--
    }
  }
  return false
}
