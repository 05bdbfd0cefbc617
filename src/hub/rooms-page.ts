// The room listing's pagination, shared by every store: rooms in name order (code-unit order, as JavaScript
// and Redis's lexicographic order both sort), the cursor the last name of the page. A name cursor stays valid
// while rooms come and go: a page never repeats a room, and one created meanwhile shows up if it sorts later.
import type { RoomSummary, RoomsPage } from './types.js'

/** The names after `after`, at most `limit` of them, in order; `more` when names remain beyond them. */
export function pageNames (names: string[], limit: number, after: string | undefined): { names: string[], more: boolean } {
  names.sort(compare)
  let start = 0
  if (after !== undefined) {
    // first name > after (binary search: the listing must not cost O(rooms) comparisons twice)
    let lo = 0
    let hi = names.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((names[mid] as string) <= after) lo = mid + 1
      else hi = mid
    }
    start = lo
  }
  const end = Math.min(names.length, start + limit)
  return { names: names.slice(start, end), more: end < names.length }
}

/** A page of summaries; `summarise` may drop a room (undefined: gone meanwhile). */
export function pageOf (names: string[], limit: number, after: string | undefined, summarise: (room: string) => RoomSummary | undefined): RoomsPage {
  const page = pageNames(names, limit, after)
  const rooms: RoomSummary[] = []
  for (const room of page.names) {
    const s = summarise(room)
    if (s !== undefined) rooms.push(s)
  }
  return { rooms, next: page.more && page.names.length > 0 ? page.names[page.names.length - 1] : undefined }
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
