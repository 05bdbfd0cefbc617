// Messages typed but not yet acknowledged. Each gets a cid; after a reconnect every unacked one is sent
// again, and the server's cid dedupe makes that safe: nothing typed is lost, nothing is posted twice.

export interface Outgoing {
  cid: string
  text: string
  /** times it was handed to a socket */
  attempts: number
}

/** Codes that will not succeed on retry: the message is dropped and reported. */
const FINAL = new Set(['invalid', 'too_long', 'unknown_type'])

export class Outbox {
  readonly #pending = new Map<string, Outgoing>()
  #counter = 0

  constructor (readonly prefix: string) {}

  get size (): number {
    return this.#pending.size
  }

  /** Queues a text; returns its frame to send now (if the socket is open). */
  add (text: string): Outgoing {
    const cid = `${this.prefix}-${(++this.#counter).toString(36)}`
    const item = { cid, text, attempts: 0 }
    this.#pending.set(cid, item)
    return item
  }

  frame (item: Outgoing): string {
    item.attempts++
    return JSON.stringify({ type: 'message', text: item.text, cid: item.cid })
  }

  /** The server acked it: forget it. Returns false for an unknown cid. */
  ack (cid: string): boolean {
    return this.#pending.delete(cid)
  }

  /** The server refused it: returns 'drop' (final: report it) or 'retry' (rate limited / unavailable: keep it). */
  refused (cid: string, code: string): 'drop' | 'retry' | 'unknown' {
    const item = this.#pending.get(cid)
    if (item === undefined) return 'unknown'
    if (FINAL.has(code)) {
      this.#pending.delete(cid)
      return 'drop'
    }
    return 'retry'
  }

  /** Every unacked message, oldest first: what to send again after a reconnect. */
  unacked (): Outgoing[] {
    return [...this.#pending.values()]
  }
}
