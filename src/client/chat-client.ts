// A chat room client: resume with since/epoch after every reconnect, transcript without duplicates or
// silent gaps, and an outbox that re-sends unacknowledged messages (safe thanks to the server's cid dedupe).
import { CHAT_HEARTBEAT, RealtimeSocket, type RealtimeSocketOptions } from './realtime-socket.js'
import { Outbox } from './outbox.js'
import { Transcript, type ChatMessage, type Entry, type Welcome } from './transcript.js'

export interface ChatClientOptions extends RealtimeSocketOptions {
  /** ws(s)://host[:port] of the service; default: the page's own host */
  base?: string
  /** display name (`?name=`); with auth on, the token's `name` claim wins */
  name?: string
}

type Frame = Record<string, unknown> & { type: string }

/**
 * Events: `entries` (detail: Entry[] to append), `members` (detail: string[]), `presence` (detail: join/leave frame),
 * `error` (detail: error frame), `welcome` (detail: welcome frame), `state` (from the socket), `outbox` (detail: size);
 * with a token, from the socket: `expiring` (detail: ms left), `refreshed` (detail: new exp, unix seconds),
 * `refreshfailed` (detail: reason).
 */
export class ChatClient extends EventTarget {
  readonly socket: RealtimeSocket
  readonly transcript = new Transcript()
  readonly outbox = new Outbox(Math.random().toString(36).slice(2, 10))
  members = new Set<string>()
  name: string | undefined
  /** the token's `sub`, from the welcome (undefined while auth is off) */
  userId: string | undefined
  #welcomed = false

  constructor (readonly room: string, opts: ChatClientOptions = {}) {
    super()
    this.name = opts.name
    const base = opts.base ?? defaultBase()
    this.socket = new RealtimeSocket(() => {
      const q = new URLSearchParams()
      if (this.name !== undefined && this.name !== '') q.set('name', this.name)
      const resume = this.transcript.resumeQuery()
      if (resume !== undefined) { q.set('since', String(resume.since)); q.set('epoch', resume.epoch) }
      return `${base}/ws/chat/${encodeURIComponent(room)}?${q.toString()}`
    }, { heartbeat: CHAT_HEARTBEAT, ...opts })
    this.socket.addEventListener('message', (ev) => this.#onFrame((ev as CustomEvent<string>).detail))
    this.socket.addEventListener('close', () => { this.#welcomed = false })
    for (const type of ['state', 'expiring', 'refreshed', 'refreshfailed']) {
      this.socket.addEventListener(type, (ev) => this.#emit(type, (ev as CustomEvent).detail))
    }
  }

  connect (): void { this.socket.connect() }
  close (): void { this.socket.close() }

  /** The token for every later (re)connect; an open socket is refreshed with it, a refused one tries again. */
  setToken (token: string | undefined): void { this.socket.setToken(token) }

  /** Queues a message; it is sent now if the room is joined, else after the next welcome. */
  send (text: string): void {
    const item = this.outbox.add(text)
    if (this.#welcomed) this.socket.send(this.outbox.frame(item))
    this.#emit('outbox', this.outbox.size)
  }

  #onFrame (data: string): void {
    let f: Frame
    try { f = JSON.parse(data) as Frame } catch { return }
    switch (f.type) {
      case 'welcome': {
        const w = f as unknown as Welcome & { name: string, members: string[], userId?: string }
        this.name = w.name
        this.userId = w.userId
        this.members = new Set(w.members)
        this.#emit('welcome', w)
        this.#emit('members', [...this.members])
        this.#emit('entries', this.transcript.welcome(w))
        this.#welcomed = true
        // everything typed and not acked goes again; the server drops the ones it already has
        for (const item of this.outbox.unacked()) this.socket.send(this.outbox.frame(item))
        break
      }
      case 'message':
        this.#emit('entries', this.transcript.message(f as unknown as ChatMessage))
        break
      case 'ack':
        this.outbox.ack(String(f.cid))
        this.#emit('outbox', this.outbox.size)
        break
      case 'error':
        if (typeof f.cid === 'string') {
          const verdict = this.outbox.refused(f.cid, String(f.code))
          if (verdict === 'retry') this.#retryLater(f.cid)
        }
        this.#emit('error', f)
        this.#emit('outbox', this.outbox.size)
        break
      case 'join':
      case 'leave':
        if (f.type === 'join') this.members.add(String(f.name))
        else this.members.delete(String(f.name))
        this.#emit('presence', f)
        this.#emit('members', [...this.members])
        break
    }
  }

  #retryLater (cid: string): void {
    setTimeout(() => {
      const item = this.outbox.unacked().find((i) => i.cid === cid)
      if (item !== undefined && this.#welcomed) this.socket.send(this.outbox.frame(item))
    }, 1000 + Math.random() * 1000)
  }

  #emit (type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}

export function defaultBase (): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
}

export type { Entry, ChatMessage }
