// A room's history and the resume rules, shared by every store: the memory store holds its messages in a
// History; the Redis store holds them in a list and applies the same rules to what it reads back.
import { randomBytes } from 'node:crypto'
import type { Backlog, ChatMessage } from './types.js'

/**
 * A new epoch: the name of one continuous life of a room's seq. A room whose state is created (or lost and
 * created again) gets a new one, so a client resuming with an old epoch learns that it cannot trust its seq.
 */
export function newEpoch (): string {
  return randomBytes(6).toString('base64url')
}

/** One held message, with the client id it was published under (for dedupe). */
export interface Held {
  msg: ChatMessage
  cid?: string | undefined
  /** its UTF-8 JSON size, counted against the store's ByteBudget */
  bytes?: number
  /** set when it left its room's history (trimmed, expired, the room dropped): the budget's queue skips it */
  gone?: boolean
}

/**
 * The bytes of every message held, across every room of a store, and a cap on them (HISTORY_MAX_BYTES). Messages
 * are held in time order, so a queue of every held entry has the globally oldest at its head: over the cap,
 * the head goes first, from whichever room holds it. Entries that left history another way stay in the queue
 * marked `gone` until the head passes them, or a compaction (once they outnumber the live ones) drops them,
 * so the queue stays within twice the held count.
 */
export class ByteBudget {
  bytes = 0
  held = 0
  /** held entries in time order; a slot is emptied (null) once the budget has passed it */
  #queue: Array<{ history: History, entry: Held } | null> = []
  #head = 0

  constructor (readonly max: number) {}

  add (history: History, entry: Held): void {
    this.bytes += entry.bytes ?? 0
    this.held++
    this.#queue.push({ history, entry })
    while (this.bytes > this.max && this.#head < this.#queue.length) {
      const head = this.#take()
      // held in time order: a live head entry is its room's oldest
      if (head !== null && head.entry.gone !== true) head.history.dropOldest()
    }
    this.#compact()
  }

  /**
   * HISTORY_TTL_MS across every room, for the rooms nobody reads (History.expire covers the one read or written):
   * the held messages older than `cutoff` (expiryCutoff) leave, globally oldest first; the first one within
   * the TTL ends it. Returns how many left.
   */
  expire (cutoff: number): number {
    let n = 0
    while (this.#head < this.#queue.length) {
      const head = this.#queue[this.#head]
      if (head != null && head.entry.gone !== true) {
        if (head.entry.msg.ts >= cutoff) break
        // held in time order: a live head entry is its room's oldest
        head.history.dropOldest()
        n++
      }
      this.#take()
    }
    this.#compact()
    return n
  }

  /** An entry left history (its bytes no longer count). */
  remove (entry: Held): void {
    if (entry.gone === true) return
    entry.gone = true
    this.bytes -= entry.bytes ?? 0
    this.held--
  }

  /** The head slot, emptied so the queue keeps no message the budget has passed. */
  #take (): { history: History, entry: Held } | null {
    const head = this.#queue[this.#head] ?? null
    this.#queue[this.#head++] = null
    return head
  }

  // Entries that left history some other way (HISTORY_SIZE, expiry, a dropped room) stay queued until a
  // compaction: at most `held` + COMPACT_SLACK of them, so the messages they still reference are bounded by
  // what history holds; a rebuild costs O(queue) after at least as many removals, O(1) per message.
  #compact (): void {
    const queue = this.#queue
    while (this.#head < queue.length) {
      const q = queue[this.#head]
      if (q != null && q.entry.gone !== true) break
      this.#take()
    }
    if (queue.length - this.#head <= 2 * this.held + COMPACT_SLACK) {
      if (this.#head > COMPACT_SLACK && this.#head * 2 > queue.length) { queue.splice(0, this.#head); this.#head = 0 }
      return
    }
    const live: Array<{ history: History, entry: Held }> = []
    for (let i = this.#head; i < queue.length; i++) {
      const q = queue[i]
      if (q != null && q.entry.gone !== true) live.push(q)
    }
    this.#queue = live
    this.#head = 0
  }
}

const COMPACT_SLACK = 16

/** What the resume rule reads of a room: its epoch, latest seq, and held messages oldest first. */
export interface HistoryView {
  epoch: string
  seq: number
  held: ReadonlyArray<{ msg: ChatMessage }>
}

/**
 * The oldest `ts` a message may have and still be held, at `now`; -Infinity when history does not
 * expire (ttlMs 0).
 */
export function expiryCutoff (now: number, ttlMs: number): number {
  return ttlMs > 0 ? now - ttlMs : -Infinity
}

/**
 * The resume rule: given what a client last saw (since, epoch), return at most `limit` held messages after
 * it, oldest first, and say whether anything in between is gone. A client that says nothing (no since, no
 * epoch) gets everything held and no gap. An epoch that is not the room's, or a since beyond the room's
 * seq, belongs to another life of the room: everything held, and `truncated`. Otherwise `truncated` says
 * whether the message right after `since` has already left history.
 */
export function backlogOf (
  state: HistoryView,
  since: number | undefined,
  epoch: string | undefined,
  limit: number
): Backlog {
  const { held } = state
  const oldest = held.length > 0 ? (held[0] as { msg: ChatMessage }).msg.seq : state.seq + 1
  const foreign = (epoch !== undefined && epoch !== state.epoch) || (since !== undefined && since > state.seq)
  const from = since === undefined || foreign ? 0 : since
  const messages: ChatMessage[] = []
  for (let i = 0; i < held.length && messages.length < limit; i++) {
    const msg = (held[i] as { msg: ChatMessage }).msg
    if (msg.seq > from) messages.push(msg)
  }
  const truncated = foreign || (since !== undefined && since + 1 < oldest)
  return { epoch: state.epoch, seq: state.seq, messages, truncated }
}

/**
 * A room's held messages in one process: the last `size` (none when 0), oldest first, each dropped earlier
 * once it is older than the TTL; and the cids of those held, so a retried message is recognised while its
 * original is still held, and no longer once it is gone.
 */
export class History {
  readonly held: Held[] = []
  readonly #cids = new Map<string, ChatMessage>()

  constructor (readonly size: number, readonly budget?: ByteBudget) {}

  /** The held message published under `cid`, if any. */
  original (cid: string): ChatMessage | undefined {
    return this.#cids.get(cid)
  }

  /**
   * Holds a new message (nothing when size is 0), dropping the oldest beyond `size`; `bytes` (its serialised
   * size) counts against the budget, which may drop the oldest messages of any room, this one included.
   */
  hold (msg: ChatMessage, cid: string | undefined, bytes = 0): void {
    if (this.size <= 0) return
    const entry: Held = { msg, cid, bytes }
    this.held.push(entry)
    if (cid !== undefined) this.#cids.set(cid, msg)
    if (this.held.length > this.size) this.#drop()
    this.budget?.add(this, entry)
  }

  /** Drops the oldest held message (the byte budget's eviction). */
  dropOldest (): void {
    if (this.held.length > 0) this.#drop()
  }

  /** Drops everything (the room is dropped): its bytes leave the budget. */
  clear (): void {
    while (this.held.length > 0) this.#drop()
  }

  /** Drops the messages older than `cutoff` (see expiryCutoff). */
  expire (cutoff: number): void {
    while (this.held.length > 0 && (this.held[0] as Held).msg.ts < cutoff) this.#drop()
  }

  #drop (): void {
    const gone = this.held.shift()
    if (gone === undefined) return
    if (gone.cid !== undefined && this.#cids.get(gone.cid) === gone.msg) this.#cids.delete(gone.cid)
    this.budget?.remove(gone)
  }
}
