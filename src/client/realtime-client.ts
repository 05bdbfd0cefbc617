// Many rooms on one /ws/hub socket. Each room resumes after every reconnect from the last seq it saw (same
// epoch), shows each message once (by id and seq), and reports a gap the server could not fill (`truncated`).
// A publish is a promise settled by its ack: it keeps its cid across reconnects, so the server's cid dedupe
// makes the re-send safe, and it is rejected only by an error that a retry cannot fix.
import { backoffDelay, DEFAULT_BACKOFF } from './backoff.js'
import { CHAT_HEARTBEAT, RealtimeSocket, type RealtimeSocketOptions, type StateDetail } from './realtime-socket.js'
import { hubCloseAdvice } from './token.js'
import { Transcript } from './transcript.js'
import type {
  AckFrame, ErrorFrame, HubServerFrame, PresenceFrame, PublishFrame, Ref, SignalFrame, SubscribedFrame, WireMessage
} from './hub-types.js'

/** Event names to the type of their `data`: `new RealtimeClient<{ price: { usd: number } }>(...)`. */
export type EventMap = Record<string, unknown>

interface MessageBase { type: 'message', room: string, seq: number, id: string, from: string, ts: number, userId?: string }

/** A message: with an event of the map, `data` has that event's type; without an event, `text` or `data`. */
export type HubMessage<E extends object = EventMap> =
  | { [K in keyof E & string]: MessageBase & { event: K, data: E[K], text?: undefined } }[keyof E & string]
  | (MessageBase & { event?: undefined, text?: string, data?: unknown })

/** A signal (typing, cursors): not stored, no seq, only for the room's other members. */
export type HubSignal<E extends object = EventMap> =
  | { [K in keyof E & string]: { room: string, from: string, userId?: string, event: K, data: E[K] } }[keyof E & string]

/** What to publish: an event of the map with its data, or a text (with an optional event name). */
export type Publishable<E extends object = EventMap> =
  | { [K in keyof E & string]: { event: K, data: E[K], text?: undefined } }[keyof E & string]
  | { text: string, event?: keyof E & string, data?: undefined }

export interface Ack {
  room: string
  seq: number
  id: string
  epoch: string
  cid: string
}

/** A room's state after each (re)subscribe. */
export interface RoomInfo {
  room: string
  /** the room's latest seq and its epoch */
  seq: number
  epoch: string
  members: string[]
  memberCount: number
  /** a later subscribe of the same room (after a reconnect) */
  resumed: boolean
  /** the server no longer held everything after the position resumed from: a gap */
  truncated: boolean
}

export interface RoomHandlers<E extends object = EventMap> {
  /** each message once, in seq order */
  message?: (m: HubMessage<E>) => void
  /** messages this room missed and the server could not replay (history truncated, or the room restarted) */
  gap?: (reason: string) => void
  /** every (re)subscribe, with the member list */
  subscribed?: (info: RoomInfo) => void
  /** someone joined or left */
  presence?: (f: PresenceFrame) => void
  signal?: (s: HubSignal<E>) => void
  /** the server refused the subscription (forbidden, too_many_subscriptions...): the room is dropped */
  error?: (err: RealtimeError) => void
}

/** An error frame as an Error: `code` is the server's (or `closed`, `not_subscribed` decided here). */
export class RealtimeError extends Error {
  override name = 'RealtimeError'
  constructor (readonly code: string, message: string, readonly room?: string) {
    super(message)
  }
}

/** Error codes that a later retry of the same frame may get past: the publish is kept and sent again. */
const RETRYABLE = new Set(['rate_limited', 'unavailable'])

export interface RealtimeClientOptions extends Omit<RealtimeSocketOptions, 'token' | 'getToken'> {
  /** the hub's URL; default `ws(s)://<the page's host>/ws/hub` (required outside a browser) */
  url?: string
  /** display name (`?name=`); with auth on, the token's `name` claim wins */
  name?: string
  /** a token, or a function asked for one before every handshake and when the server warns it is expiring */
  token?: string | (() => Promise<string | undefined> | string | undefined)
}

interface Room<E extends object> {
  name: string
  handlers: RoomHandlers<E>
  log: Transcript<WireMessage>
  subscribed: boolean
  /** subscribed at least once (a later one is a resume) */
  seen: boolean
  memberCount: number
  members: Set<string>
  ready: { resolve: (info: RoomInfo) => void, reject: (err: RealtimeError) => void } | undefined
}

interface Outgoing {
  room: string
  cid: string
  body: Publishable<EventMap>
  attempts: number
  ref: Ref | undefined
  timer: ReturnType<typeof setTimeout> | undefined
  resolve: (ack: Ack) => void
  reject: (err: RealtimeError) => void
}

type Request =
  | { kind: 'subscribe', room: string }
  | { kind: 'unsubscribe', room: string, done: () => void }
  | { kind: 'publish', cid: string }

/**
 * One connection to `/ws/hub`, many rooms. Events: `state` (StateDetail), `message` (a message of a room with no
 * handlers here, e.g. the server's pushes to `@<userId>`), `error` (a RealtimeError no request owns), `outbox`
 * (publishes waiting for their ack), and with a token `expiring`, `refreshed`, `refreshfailed`.
 */
export class RealtimeClient<E extends object = EventMap> extends EventTarget {
  readonly socket: RealtimeSocket
  readonly #rooms = new Map<string, Room<E>>()
  readonly #requests = new Map<Ref, Request>()
  readonly #outbox = new Map<string, Outgoing>()
  readonly #tokenSource: (() => Promise<string | undefined> | string | undefined) | undefined
  readonly #prefix = Math.random().toString(36).slice(2, 10)
  #ref = 0
  #cid = 0
  name: string | undefined

  constructor (opts: RealtimeClientOptions = {}) {
    super()
    this.name = opts.name
    const url = opts.url ?? hubUrl()
    this.#tokenSource = typeof opts.token === 'function' ? opts.token : undefined
    this.socket = new RealtimeSocket(() => {
      if (this.name === undefined || this.name === '') return url
      return `${url}${url.includes('?') ? '&' : '?'}name=${encodeURIComponent(this.name)}`
    }, {
      heartbeat: CHAT_HEARTBEAT,
      stopOn: (code) => hubCloseAdvice(code) === 'stop',
      ...opts,
      token: typeof opts.token === 'string' ? opts.token : undefined,
      getToken: this.#tokenSource
    })
    this.socket.addEventListener('open', () => this.#opened())
    this.socket.addEventListener('close', () => this.#dropped())
    this.socket.addEventListener('message', (ev) => this.#onFrame((ev as CustomEvent<unknown>).detail))
    for (const type of ['state', 'refreshed', 'refreshfailed']) {
      this.socket.addEventListener(type, (ev) => this.#emit(type, (ev as CustomEvent).detail))
    }
    this.socket.addEventListener('expiring', (ev) => {
      this.#emit('expiring', (ev as CustomEvent).detail)
      // a token source gives the fresh token: the open socket adopts it with a refresh frame, no reconnect
      if (this.#tokenSource !== undefined) {
        Promise.resolve().then(this.#tokenSource).then((t) => { if (t !== undefined) this.socket.setToken(t) }, () => {})
      }
    })
  }

  get state (): StateDetail['state'] { return this.socket.state }
  get open (): boolean { return this.socket.state === 'OPEN' }
  /** publishes waiting for their ack */
  get pending (): number { return this.#outbox.size }
  /** the rooms subscribed to (or being subscribed to) */
  get rooms (): string[] { return [...this.#rooms.keys()] }

  /** The room's member list and count as of its last subscribe and the presence frames since. */
  members (room: string): { names: string[], count: number } | undefined {
    const r = this.#rooms.get(room)
    return r === undefined ? undefined : { names: [...r.members], count: r.memberCount }
  }

  /** Where the room resumes from: the last seq seen and its epoch. */
  position (room: string): { since: number, epoch: string } | undefined {
    return this.#rooms.get(room)?.log.resumeQuery()
  }

  connect (): void { this.socket.connect() }

  /** A deliberate close: no reconnect; every publish still waiting is rejected with `closed`. */
  close (): void {
    this.socket.close()
    for (const item of this.#outbox.values()) {
      clearTimeout(item.timer)
      item.reject(new RealtimeError('closed', 'the client was closed before the server acknowledged it', item.room))
    }
    this.#outbox.clear()
    this.#requests.clear()
    this.#emit('outbox', 0)
  }

  /** The token for later handshakes; an open socket adopts it in place (refresh frame). */
  setToken (token: string | undefined): void { this.socket.setToken(token) }

  /**
   * Subscribes now (or once connected) and again after every reconnect, from the last message seen. Resolves with
   * the first subscribe's RoomInfo; rejects when the server refuses it. `since`/`epoch`: resume from a position
   * saved earlier (e.g. in storage). Subscribing to a room already held replaces its handlers.
   */
  async subscribe (room: string, handlers: RoomHandlers<E> = {}, opts: { since?: number, epoch?: string } = {}): Promise<RoomInfo> {
    const held = this.#rooms.get(room)
    if (held !== undefined) {
      held.handlers = handlers
      if (held.seen) return this.#info(held, false)
    }
    return await new Promise<RoomInfo>((resolve, reject) => {
      if (held !== undefined) { // a second subscribe before the first answer: both settle with it
        const prev = held.ready
        held.ready = { resolve: (i) => { prev?.resolve(i); resolve(i) }, reject: (e) => { prev?.reject(e); reject(e) } }
        return
      }
      const log = new Transcript<WireMessage>(0)
      if (opts.epoch !== undefined && opts.since !== undefined) { log.epoch = opts.epoch; log.lastSeq = opts.since }
      const r: Room<E> = { name: room, handlers, log, subscribed: false, seen: false, memberCount: 0, members: new Set(), ready: { resolve, reject } }
      this.#rooms.set(room, r)
      if (this.open) this.#sendSubscribe(r)
    })
  }

  /** Leaves the room: no more of its messages; publishes to it still waiting are rejected. */
  async unsubscribe (room: string): Promise<void> {
    const r = this.#rooms.get(room)
    if (r === undefined) return
    this.#rooms.delete(room)
    r.ready?.reject(new RealtimeError('not_subscribed', `unsubscribed from ${room}`, room))
    for (const item of this.#outbox.values()) {
      if (item.room === room) this.#settle(item, new RealtimeError('not_subscribed', `unsubscribed from ${room} before the ack`, room))
    }
    if (!this.open) return
    await new Promise<void>((resolve) => {
      const ref = this.#nextRef()
      this.#requests.set(ref, { kind: 'unsubscribe', room, done: resolve })
      this.#send({ type: 'unsubscribe', ref, room })
    })
  }

  /**
   * Publishes to a subscribed room; resolves with the ack. Sent now if the room is subscribed, else once it is;
   * re-sent with the same cid after a reconnect or a `rate_limited`/`unavailable` refusal; rejected by any other
   * error frame (RealtimeError with the server's code), by `unsubscribe`, or by `close`.
   */
  async publish (room: string, body: Publishable<E>): Promise<Ack> {
    if (!this.#rooms.has(room)) throw new RealtimeError('not_subscribed', `subscribe to ${room} before publishing to it`, room)
    return await new Promise<Ack>((resolve, reject) => {
      const cid = `${this.#prefix}-${(++this.#cid).toString(36)}`
      const item: Outgoing = { room, cid, body: body as Publishable<EventMap>, attempts: 0, ref: undefined, timer: undefined, resolve, reject }
      this.#outbox.set(cid, item)
      this.#emit('outbox', this.#outbox.size)
      this.#sendPublish(item)
    })
  }

  /** Sends a signal to the room's other members; false when it cannot go now (not open, not subscribed). */
  signal<K extends keyof E & string> (room: string, event: K, data?: E[K]): boolean {
    if (this.#rooms.get(room)?.subscribed !== true) return false
    return this.#send({ type: 'signal', room, event, data })
  }

  #nextRef (): number { return ++this.#ref }

  #send (frame: object): boolean {
    return this.socket.send(JSON.stringify(frame))
  }

  #sendSubscribe (r: Room<E>): void {
    const ref = this.#nextRef()
    this.#requests.set(ref, { kind: 'subscribe', room: r.name })
    const at = r.log.resumeQuery()
    this.#send(at === undefined ? { type: 'subscribe', ref, room: r.name } : { type: 'subscribe', ref, room: r.name, since: at.since, epoch: at.epoch })
  }

  #sendPublish (item: Outgoing): void {
    if (this.#rooms.get(item.room)?.subscribed !== true || !this.open) return // goes after the (re)subscribe
    const ref = this.#nextRef()
    if (item.ref !== undefined) this.#requests.delete(item.ref)
    item.ref = ref
    item.attempts++
    this.#requests.set(ref, { kind: 'publish', cid: item.cid })
    const b = item.body
    const frame: PublishFrame = b.text !== undefined
      ? { type: 'publish', ref, room: item.room, text: b.text, cid: item.cid }
      : { type: 'publish', ref, room: item.room, data: b.data as unknown, cid: item.cid }
    if (b.event !== undefined) frame.event = b.event
    this.#send(frame)
  }

  #opened (): void {
    for (const r of this.#rooms.values()) this.#sendSubscribe(r)
  }

  /** The socket is gone: nothing is subscribed until the next open; requests in flight will get no answer. */
  #dropped (): void {
    for (const r of this.#rooms.values()) r.subscribed = false
    for (const req of this.#requests.values()) if (req.kind === 'unsubscribe') req.done() // not resubscribed
    this.#requests.clear()
    for (const item of this.#outbox.values()) item.ref = undefined
  }

  #onFrame (data: unknown): void {
    if (typeof data !== 'string') return
    let f: HubServerFrame
    try { f = JSON.parse(data) as HubServerFrame } catch { return }
    if (f === null || typeof f !== 'object') return
    switch (f.type) {
      case 'message': return this.#onMessage(f)
      case 'subscribed': return this.#onSubscribed(f)
      case 'ack': return this.#onAck(f)
      case 'error': return this.#onError(f)
      case 'unsubscribed': {
        const req = this.#take(f.ref)
        if (req?.kind === 'unsubscribe') req.done()
        // the server left the room itself (a refreshed token no longer allows it): as a refused subscribe
        else if (f.code !== undefined) this.#dropRoom(f.room, new RealtimeError(f.code, `no longer allowed in ${f.room}`, f.room))
        return
      }
      case 'signal': {
        const r = this.#rooms.get(f.room)
        r?.handlers.signal?.(f as unknown as HubSignal<E>)
        return
      }
      case 'join':
      case 'leave': return this.#onPresence(f)
    }
  }

  /** The request a reply answers, forgotten as it is taken. */
  #take (ref: Ref | undefined): Request | undefined {
    if (ref === undefined) return undefined
    const req = this.#requests.get(ref)
    this.#requests.delete(ref)
    return req
  }

  #onSubscribed (f: SubscribedFrame): void {
    const req = this.#take(f.ref)
    const r = this.#rooms.get(f.room)
    if (req === undefined && r === undefined) { this.#emit('subscribed', f); return } // the server's own: @<userId>
    if (r === undefined || req?.kind !== 'subscribe') return // unsubscribed meanwhile
    const resumed = r.seen
    r.subscribed = true
    r.seen = true
    r.members = new Set(f.members)
    r.memberCount = f.memberCount
    const entries = r.log.welcome(f)
    const info: RoomInfo = { ...this.#info(r, resumed, f.truncated === true), seq: f.seq, epoch: f.epoch }
    r.ready?.resolve(info)
    r.ready = undefined
    r.handlers.subscribed?.(info)
    for (const e of entries) {
      if (e.kind === 'gap') r.handlers.gap?.(e.reason)
      else r.handlers.message?.(e.message as HubMessage<E>)
    }
    // what waited for this room goes now, with the cids it had: the server drops what it already has
    for (const item of this.#outbox.values()) if (item.room === f.room && item.timer === undefined) this.#sendPublish(item)
  }

  #info (r: Room<E>, resumed: boolean, truncated = false): RoomInfo {
    const at = r.log.resumeQuery()
    return { room: r.name, seq: at?.since ?? 0, epoch: at?.epoch ?? '', members: [...r.members], memberCount: r.memberCount, resumed, truncated }
  }

  #onMessage (m: WireMessage): void {
    const r = this.#rooms.get(m.room)
    if (r === undefined) { this.#emit('message', m); return } // not subscribed here: the server's pushes to @<userId>
    if (!r.subscribed) return // before the (re)subscribe answer: its history carries it
    for (const e of r.log.message(m)) {
      if (e.kind === 'gap') r.handlers.gap?.(e.reason)
      else r.handlers.message?.(e.message as HubMessage<E>)
    }
  }

  #onPresence (f: PresenceFrame): void {
    const r = this.#rooms.get(f.room)
    if (r === undefined) return
    if (f.type === 'join') r.members.add(f.name)
    else r.members.delete(f.name)
    // the list may be empty for a big room (no names): count the changes instead
    r.memberCount = Math.max(0, r.memberCount + (f.type === 'join' ? 1 : -1))
    r.handlers.presence?.(f)
  }

  #onAck (f: AckFrame): void {
    const req = this.#take(f.ref)
    const cid = f.cid ?? (req?.kind === 'publish' ? req.cid : undefined)
    const item = cid === undefined ? undefined : this.#outbox.get(cid)
    if (item === undefined || f.seq === undefined) return // a late duplicate ack, or a signal's
    this.#settle(item, { room: f.room, seq: f.seq, id: f.id ?? '', epoch: f.epoch ?? '', cid: item.cid })
  }

  /** A room the server will not serve: dropped, its handlers told, its publishes still waiting rejected. */
  #dropRoom (room: string, err: RealtimeError): void {
    const r = this.#rooms.get(room)
    if (r === undefined) return
    this.#rooms.delete(room)
    r.ready?.reject(err)
    r.handlers.error?.(err)
    for (const item of this.#outbox.values()) if (item.room === room) this.#settle(item, err)
  }

  #onError (f: ErrorFrame): void {
    const req = this.#take(f.ref)
    const err = new RealtimeError(f.code, f.message, f.room ?? (req !== undefined && 'room' in req ? req.room : undefined))
    if (req?.kind === 'publish') {
      const item = this.#outbox.get(req.cid)
      if (item === undefined) return
      // not_subscribed while this client holds the room: the server lost it (a restart); the resubscribe resends
      if (RETRYABLE.has(f.code) || (f.code === 'not_subscribed' && this.#rooms.has(item.room))) {
        item.ref = undefined
        if (f.code === 'not_subscribed') return
        const delay = backoffDelay(item.attempts - 1, { ...DEFAULT_BACKOFF, baseMs: 1000 })
        item.timer = setTimeout(() => { item.timer = undefined; this.#sendPublish(item) }, delay)
        return
      }
      this.#settle(item, err)
      return
    }
    if (req?.kind === 'subscribe') {
      this.#dropRoom(req.room, err)
      return
    }
    if (req?.kind === 'unsubscribe') { req.done(); return }
    if (f.code === 'unauthorized') return // a refused token refresh: the socket reports it (refreshfailed)
    this.#emit('error', err)
  }

  #settle (item: Outgoing, result: Ack | RealtimeError): void {
    clearTimeout(item.timer)
    this.#outbox.delete(item.cid)
    if (item.ref !== undefined) this.#requests.delete(item.ref)
    if (result instanceof RealtimeError) item.reject(result)
    else item.resolve(result)
    this.#emit('outbox', this.#outbox.size)
  }

  #emit (type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}

/** `ws(s)://<page host>/ws/hub` in a browser; elsewhere there is no page to take it from. */
function hubUrl (): string {
  const loc = (globalThis as { location?: { protocol: string, host: string } }).location
  if (loc === undefined) throw new TypeError('RealtimeClient needs the `url` option outside a browser (e.g. ws://127.0.0.1:3000/ws/hub)')
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws/hub`
}

export type { SignalFrame, PresenceFrame }
