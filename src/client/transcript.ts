// Chat transcript bookkeeping: merges welcome history and live messages by (epoch, seq)
// so a reconnecting client shows every message once, in order, and marks real gaps.

export interface ChatMessage {
  type: 'message'
  id: string
  room: string
  seq: number
  from: string
  text: string
  ts: number
  userId?: string
}

/** What the transcript needs of a message: an id (unique forever) and its seq in the room's epoch. */
export interface Sequenced { id: string, seq: number }

/** A join's answer: a chat `welcome` or a hub `subscribed`, both carry these. */
export interface Welcome<M extends Sequenced = ChatMessage> {
  type?: string
  seq: number
  epoch: string
  history: M[]
  truncated?: boolean
}

export type Entry<M extends Sequenced = ChatMessage> =
  | { kind: 'message', message: M }
  | { kind: 'gap', reason: string }

/** Ids remembered for dedupe: far more than any resume replays, and a bound on a long-lived client's memory. */
const SHOWN_MAX = 4096

export class Transcript<M extends Sequenced = ChatMessage> {
  epoch: string | undefined
  /** highest seq shown in the current epoch */
  lastSeq = 0
  /** the latest entries, at most `keep` of them */
  readonly entries: Array<Entry<M>> = []
  /** ids of the messages shown, whatever their epoch: a message is never shown twice */
  readonly #shown = new Set<string>()

  /** `keep`: how many entries `entries` holds (the oldest go first); 0 keeps none (the caller renders as they come). */
  constructor (readonly keep = 1000) {}
  /** a live message already told of a restart the next welcome will report too */
  #restarted = false

  /** The query to resume with after a reconnect: `since` and `epoch` of what this client has seen. */
  resumeQuery (): { since: number, epoch: string } | undefined {
    return this.epoch === undefined ? undefined : { since: this.lastSeq, epoch: this.epoch }
  }

  /** Applies a welcome; returns the entries it added (for rendering). */
  welcome (w: Welcome<M>): Array<Entry<M>> {
    const added: Array<Entry<M>> = []
    const first = this.epoch === undefined
    if (w.truncated === true && !first && !this.#restarted) {
      // the server says messages we have not seen are gone (dropped or a new epoch): say so, then start over
      added.push({ kind: 'gap', reason: w.epoch !== this.epoch ? 'the server restarted: earlier messages may be missing' : 'some messages were missed' })
    }
    if (w.epoch !== this.epoch) this.lastSeq = 0
    this.epoch = w.epoch
    this.#restarted = false
    for (const m of w.history) {
      const e = this.#add(m)
      if (e !== undefined) added.push(e)
    }
    if (w.seq < this.lastSeq) this.lastSeq = w.seq
    this.#keep(added)
    return added
  }

  /** Applies a live message; returns the entry to render, or undefined for a duplicate. */
  message (m: M): Array<Entry<M>> {
    const added: Array<Entry<M>> = []
    if (m.seq <= this.lastSeq && !this.#shown.has(m.id)) {
      // a seq this client has seen, on another message: the room started a new epoch (the server lost its
      // state) before this socket was told. Show it after a gap; the next welcome (truncated) fills in.
      added.push({ kind: 'gap', reason: 'the room restarted: earlier messages may be missing' })
      this.lastSeq = m.seq - 1
      this.#restarted = true
    } else if (this.lastSeq > 0 && m.seq > this.lastSeq + 1) {
      added.push({ kind: 'gap', reason: `messages ${this.lastSeq + 1}-${m.seq - 1} were missed` })
    }
    const e = this.#add(m)
    if (e === undefined) return []
    added.push(e)
    this.#keep(added)
    return added
  }

  /** Whether this message (by id) was shown already. */
  has (id: string): boolean {
    return this.#shown.has(id)
  }

  #keep (added: Array<Entry<M>>): void {
    if (this.keep === 0) return
    for (const e of added) this.entries.push(e)
    if (this.entries.length > this.keep) this.entries.splice(0, this.entries.length - this.keep)
  }

  #add (m: M): Entry<M> | undefined {
    if (m.seq <= this.lastSeq || this.#shown.has(m.id)) return undefined // already shown
    this.lastSeq = m.seq
    this.#shown.add(m.id)
    if (this.#shown.size > SHOWN_MAX) this.#shown.delete(this.#shown.values().next().value as string)
    return { kind: 'message', message: m }
  }
}
