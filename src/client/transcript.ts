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

export interface Welcome {
  type: 'welcome'
  seq: number
  epoch: string
  history: ChatMessage[]
  truncated?: boolean
}

export type Entry =
  | { kind: 'message', message: ChatMessage }
  | { kind: 'gap', reason: string }

export class Transcript {
  epoch: string | undefined
  /** highest seq shown in the current epoch */
  lastSeq = 0
  readonly entries: Entry[] = []
  /** ids of the messages shown, whatever their epoch: a message is never shown twice */
  readonly #shown = new Set<string>()
  /** a live message already told of a restart the next welcome will report too */
  #restarted = false

  /** The query to resume with after a reconnect: `since` and `epoch` of what this client has seen. */
  resumeQuery (): { since: number, epoch: string } | undefined {
    return this.epoch === undefined ? undefined : { since: this.lastSeq, epoch: this.epoch }
  }

  /** Applies a welcome; returns the entries it added (for rendering). */
  welcome (w: Welcome): Entry[] {
    const added: Entry[] = []
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
    this.entries.push(...added)
    return added
  }

  /** Applies a live message; returns the entry to render, or undefined for a duplicate. */
  message (m: ChatMessage): Entry[] {
    const added: Entry[] = []
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
    this.entries.push(...added)
    return added
  }

  #add (m: ChatMessage): Entry | undefined {
    if (m.seq <= this.lastSeq || this.#shown.has(m.id)) return undefined // already shown
    this.lastSeq = m.seq
    this.#shown.add(m.id)
    return { kind: 'message', message: m }
  }
}
