import { FloodGuard } from './rate-limit.js'
import { Budgets } from '../limits/budgets.js'
import { clientKey, DEFAULT_IPV6_PREFIX_BITS } from '../limits/address.js'
import { roomAllowed } from '../auth/jwt.js'
import { parseClientFrame, checkText, serialiseData, type ClientFrame, type ErrorCode } from '../protocol/chat.js'
import { CLOSE, CLOSE_REASON, USER_STREAM_PREFIX } from '../protocol/codes.js'
import type {
  AckFrame, ErrorFrame, PongFrame, Ref, SubscribedFrame, UnsubscribedFrame, WelcomeFrame
} from '../protocol/frames.js'
import { textFrame } from '../protocol/frame.js'
import { closeSlow, corkForTick, type Connection } from '../registry/connection.js'
import type { LogLike } from '../registry/registry.js'
import type { ChatMessage, Draft, HubStore, Member, PresenceEvent, PublishResult, SignalEvent } from './types.js'
import { RoomLimitError, UnavailableError } from './errors.js'

export interface HubOptions {
  maxLength: number
  /** UTF-8 bytes of a message's or signal's serialised `data` (MAX_DATA_BYTES) */
  maxDataBytes?: number
  /** rooms one socket may be subscribed to at once, its personal stream included (MAX_SUBSCRIPTIONS_PER_SOCKET) */
  maxSubscriptions?: number
  /** the message budget (CHAT_RATE_*), shared by every socket of one client */
  ratePerSec: number
  rateBurst: number
  /** clients whose message budget is tracked at once (RATE_LIMIT_MAX_CLIENTS) */
  maxClients?: number
  /** how an IPv6 client is grouped for its budget (IPV6_PREFIX_BITS) */
  ipv6PrefixBits?: number
  sendBufferLimit: number
  log: LogLike & { debug (obj: object, msg: string): void, error (obj: object, msg: string): void }
}

/** What the hub reports for metrics; every call is one cheap increment, none per member. */
export interface HubEvents {
  accepted (): void
  refused (code: ErrorCode): void
  /** one broadcast: how many local sockets got it and how long the fan-out took */
  delivered (sockets: number, seconds: number): void
}

/** Sees every frame the hub writes (the test suite checks each against its schema); unset in production. */
export type FrameTap = (json: string) => void

const NO_EVENTS: HubEvents = { accepted () {}, refused () {}, delivered () {} }
/** RATE_LIMIT_MAX_CLIENTS' default, for a hub built without it */
const DEFAULT_MAX_CLIENTS = 100_000
const DEFAULT_MAX_DATA_BYTES = 16_384
const DEFAULT_MAX_SUBSCRIPTIONS = 100

interface Pending {
  /** a whole WebSocket frame (textFrame) */
  frame: Buffer
  /** seq of a message frame, so the ones already in the subscribed history are not sent twice */
  seq: number
}

/**
 * A subscribe under way (a join, or a resume of a room already held): the room's frames are held back until
 * its subscribed (or welcome) frame is out. Exists only until then, so a settled subscription costs no object:
 * it is one entry in the socket's `subs` and one in its room's member set.
 */
class Joining {
  readonly held: Pending[] = []
  /**
   * a subscribe to the same room that came meanwhile, run once this one is over: the personal stream's
   * subscribe, made at open, races a client that resumes it at once
   */
  next: SubscribeRequest | undefined
  /** the store has this member in the room: a leave is owed when the subscription is dropped */
  constructor (public joined: boolean) {}
}

interface SubscribeRequest { ref: Ref | undefined, room: string, since: number | undefined, epoch: string | undefined }

/** A room's local members, and the room's name held once for all of them (not once per subscription). */
class RoomMembers extends Set<ChatSession> {
  constructor (readonly name: string) {
    super()
  }
}

/** One socket's state in the hub: a chat socket (with its URL room) or a hub socket (no room). */
export class ChatSession {
  /** the client's message budget is kept under this (the user, else the address group) */
  readonly budgetKey: string
  readonly flood: FloodGuard
  /** rooms this socket is subscribed to (or subscribing to) */
  readonly subs = new Set<string>()
  /** the subscribes under way, by room; null when none (the fan-out's common case: one field read) */
  joining: Map<string, Joining> | null = null
  /**
   * chat sockets: every frame is held here until the welcome is out (the welcome comes first); null once it
   * is, and always null on hub sockets
   */
  held: Buffer[] | null
  /** frames (textFrame) waiting for this turn's flush, coalesced into one write; null when none */
  out: Buffer[] | null = null
  closed = false
  slowTimer: NodeJS.Timeout | undefined

  /** presence identity: the user (several tabs count once) when authenticated, else the connection */
  readonly memberKey: string
  /** what the store's presence holds for this socket in each of its rooms: one object for all of them */
  readonly member: Member
  /** the token's `rooms` claim (AUTH_MODE=jwt): the rooms this socket may subscribe to; undefined = any */
  allowedRooms: readonly string[] | undefined
  /** `{"type":"refresh","token"}` from the client; unset when authentication is off */
  onRefresh: ((token: string, ref: Ref | undefined) => void) | undefined

  /** `room`: the chat socket's URL room (frames without a room go there); undefined for a hub socket */
  constructor (
    readonly conn: Connection,
    readonly room: string | undefined,
    readonly name: string,
    opts: HubOptions
  ) {
    this.memberKey = conn.userId !== undefined ? `u:${conn.userId}` : conn.id
    this.member = { key: this.memberKey, name, userId: conn.userId }
    this.budgetKey = clientKey(conn.ip, conn.userId, opts.ipv6PrefixBits ?? DEFAULT_IPV6_PREFIX_BITS)
    this.flood = new FloodGuard(opts.ratePerSec)
    this.held = room === undefined ? null : []
  }
}

/** A user's personal stream: the room `@<userId>`, which only that user (and the HTTP API) may read. */
export function userStream (userId: string): string {
  return USER_STREAM_PREFIX + userId
}

/**
 * The instance's side of the broadcast hub: which local sockets are subscribed to which room, and how frames
 * reach them. The store (memory or a backplane) decides seq, history and presence and calls back
 * `message`/`presence`/`signal`; this class serialises each event once per room and fans it out.
 */
export class Hub {
  readonly #rooms = new Map<string, RoomMembers>()
  readonly options: HubOptions
  /**
   * Message budgets by client (ChatSession.budgetKey): every socket of a client spends from one bucket,
   * so opening another socket, or reconnecting, does not refill it. Refresh frames spend from it too.
   */
  readonly budgets: Budgets
  events: HubEvents = NO_EVENTS
  /** test suites set it to check every frame written against its schema */
  tap: FrameTap | undefined
  /** sessions with frames in `out`, flushed once per event-loop turn */
  #dirty: ChatSession[] = []
  #flushScheduled = false
  readonly #opts: HubOptions
  readonly #maxData: number
  readonly #maxSubs: number

  constructor (readonly store: HubStore, opts: HubOptions) {
    this.#opts = opts
    this.options = opts
    this.#maxData = opts.maxDataBytes ?? DEFAULT_MAX_DATA_BYTES
    this.#maxSubs = opts.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS
    this.budgets = new Budgets(opts.ratePerSec, opts.rateBurst, opts.maxClients ?? DEFAULT_MAX_CLIENTS)
    store.setListener({
      message: (msg, raw) => this.#fanOut(msg.room, this.#frame(raw ?? JSON.stringify(msg)), msg.seq, undefined),
      presence: (ev) => this.#presence(ev),
      signal: (ev) => this.#fanOut(ev.room, this.#frame(ev.raw), 0, ev.key)
    })
  }

  /**
   * A socket is open: a chat socket joins its URL room and gets its welcome (with the backlog after `since`);
   * then, with authentication, every socket is subscribed to its user's personal stream. Never rejects.
   */
  async open (session: ChatSession, since: number | undefined, epoch: string | undefined): Promise<void> {
    if (session.room !== undefined) {
      if (!await this.#subscribe(session, session.room, since, epoch, undefined, true)) return
    }
    const { userId } = session.conn
    if (userId !== undefined && !session.closed) await this.#subscribe(session, userStream(userId), undefined, undefined, undefined, false)
  }

  /** The socket is gone: leave every room (presence) and forget it. */
  close (session: ChatSession): void {
    session.closed = true
    clearTimeout(session.slowTimer)
    for (const room of session.subs) this.#drop(session, room)
  }

  /** One text frame from a client. Never throws. */
  receive (session: ChatSession, raw: string): void {
    const frame = parseClientFrame(raw, this.#opts.maxLength, this.#maxData)
    switch (frame.type) {
      case 'ping': {
        const pong: PongFrame = { type: 'pong', ts: Date.now() }
        if (frame.ref !== undefined) pong.ref = frame.ref
        this.#sendJson(session, pong)
        return
      }
      case 'refresh':
        // a refresh verifies a token: it spends from the message budget like a message
        if (this.#overBudget(session, frame.ref, undefined)) return
        if (session.onRefresh !== undefined) session.onRefresh(frame.token, frame.ref)
        // not a chat message: answered, not counted as a refused one
        else this.#sendJson(session, errorFrame('unauthorized', 'authentication is off: nothing to refresh', frame.ref, undefined))
        return
      case 'error':
        this.#refuse(session, frame.code, frame.message, frame.ref, frame.cid)
        return
      case 'subscribe':
        this.#onSubscribe(session, frame)
        return
      case 'unsubscribe':
        this.#onUnsubscribe(session, frame.room, frame.ref)
        return
      case 'message':
      case 'publish':
        this.#onPublish(session, frame)
        return
      case 'signal':
        this.#onSignal(session, frame)
    }
  }

  /**
   * A refreshed token's rooms claim is now the socket's. Each room it no longer allows is left, with an
   * `unsubscribed` frame carrying code `forbidden` and no ref; a chat socket whose URL room it no longer allows
   * is closed with 4501, since that room is what the socket is for and reconnecting cannot bring it back.
   */
  reauthorize (session: ChatSession, rooms: readonly string[] | undefined): void {
    session.allowedRooms = rooms
    if (session.closed) return
    if (session.room !== undefined && !this.#mayRead(session, session.room)) {
      session.conn.endedBy = 'forbidden'
      session.conn.socket.close(CLOSE.FORBIDDEN, CLOSE_REASON[CLOSE.FORBIDDEN])
      return
    }
    for (const room of session.subs) {
      if (this.#mayRead(session, room)) continue
      this.#drop(session, room)
      const out: UnsubscribedFrame = { type: 'unsubscribed', room, code: 'forbidden' }
      this.#sendJson(session, out)
    }
  }

  /** Publishes on behalf of the HTTP API (no socket, no rate limit, any room or personal stream). */
  async publish (room: string, draft: Draft): Promise<PublishResult | { error: ErrorFrame }> {
    let invalid: ClientFrame | undefined
    if (draft.text !== undefined) {
      invalid = checkText(draft.text, this.#opts.maxLength)
    } else {
      const json = serialiseData(draft.data, this.#maxData)
      if (typeof json === 'string') draft.dataJson = json
      else invalid = json
    }
    if (invalid !== undefined) {
      const code = invalid.type === 'error' ? invalid.code : 'invalid'
      this.events.refused(code)
      return { error: errorFrame(code, invalid.type === 'error' ? invalid.message : 'invalid message', undefined, undefined) }
    }
    const result = await this.store.publish(room, draft)
    this.events.accepted()
    return result
  }

  /** A frame for one member (refresh answers), through the same ordered queue as everything else. */
  sendTo (session: ChatSession, obj: object): void {
    if (!session.closed) this.#sendJson(session, obj)
  }

  /** Whether this socket may read (subscribe to) `room`: its token's rooms claim; a personal stream is its user's only. */
  #mayRead (session: ChatSession, room: string): boolean {
    if (room.charCodeAt(0) === 0x40 /* @ */) return session.conn.userId !== undefined && room === userStream(session.conn.userId)
    return session.allowedRooms === undefined || roomAllowed(session.allowedRooms, room)
  }

  #onSubscribe (session: ChatSession, frame: SubscribeRequest): void {
    const { room, ref } = frame
    if (!this.#mayRead(session, room)) {
      this.#refuse(session, 'forbidden', `not allowed to subscribe to ${room}`, ref, undefined)
      return
    }
    const held = session.subs.has(room)
    const under = held ? session.joining?.get(room) : undefined
    if (under !== undefined) {
      // one request waits for the subscribe under way, then runs as a resume with its own since and epoch
      if (under.next === undefined) under.next = frame
      else this.#refuse(session, 'invalid', `a subscribe to ${room} is under way`, ref, undefined)
      return
    }
    if (!held && session.subs.size >= this.#maxSubs) {
      this.#refuse(session, 'too_many_subscriptions', `at most ${this.#maxSubs} subscriptions per socket`, ref, undefined)
      return
    }
    this.#subscribe(session, room, frame.since, frame.epoch, ref, false).catch(() => {})
  }

  /**
   * Joins `room` (or, already subscribed, reads its backlog again: a resume) and sends the subscribed frame, or
   * the welcome for a chat socket's URL room. Room frames are held until it is out, so nothing published
   * meanwhile is lost or delivered twice. Resolves false when the socket cannot go on (closed, or its welcome
   * failed). Never rejects.
   */
  async #subscribe (session: ChatSession, room: string, since: number | undefined, epoch: string | undefined, ref: Ref | undefined, welcome: boolean): Promise<boolean> {
    const fresh = !session.subs.has(room)
    if (fresh) {
      let members = this.#rooms.get(room)
      if (members === undefined) {
        members = new RoomMembers(room)
        this.#rooms.set(room, members)
      } else {
        // the name as the room's members already hold it: one copy per room, not one per subscription
        room = members.name
      }
      session.subs.add(room)
      members.add(session)
    }
    // a resume's member is already in the store
    const sub = new Joining(!fresh)
    ;(session.joining ??= new Map()).set(room, sub)
    try {
      let names: string[] = []
      let count = 0
      if (fresh) {
        // a chat socket's URL room was checked before the upgrade
        if (!welcome && !await this.store.canCreate(room)) throw new RoomLimitError('room limit reached')
        ;({ names, count } = await this.store.join(room, session.member))
        if (session.joining?.get(room) !== sub) {
          // unsubscribed, or the socket closed, during the join: the leave it could not make yet
          this.#leave(session, room)
          this.#abandon(session, sub, 'not_subscribed', `unsubscribed from ${room} during the subscribe`)
          return !session.closed
        }
        sub.joined = true
      } else {
        const state = await this.store.join(room, session.member)
        names = state.names
        count = state.count
        await this.store.leave(room, session.member)
      }
      const backlog = await this.store.backlog(room, since, epoch)
      if (session.joining?.get(room) !== sub) {
        this.#abandon(session, sub, 'not_subscribed', `unsubscribed from ${room} during the subscribe`)
        return !session.closed
      }
      let out: WelcomeFrame | SubscribedFrame
      if (welcome) {
        out = { type: 'welcome', id: session.conn.id, name: session.name, room, members: names, memberCount: count, seq: backlog.seq, epoch: backlog.epoch, history: backlog.messages }
        if (session.conn.userId !== undefined) out.userId = session.conn.userId
      } else {
        out = { type: 'subscribed', room, seq: backlog.seq, epoch: backlog.epoch, members: names, memberCount: count, history: backlog.messages }
        if (ref !== undefined) out.ref = ref
      }
      if (backlog.truncated) out.truncated = true
      const queued = sub.held
      this.#settle(session, room)
      // the welcome first, then whatever was held for the socket meanwhile; then the room's held frames
      const held = welcome ? session.held ?? [] : undefined
      if (welcome) session.held = null
      if (session.held !== null) session.held.push(this.#frame(JSON.stringify(out)))
      else this.#sendNow(session, this.#frame(JSON.stringify(out)))
      if (held !== undefined) for (let i = 0; i < held.length; i++) this.#sendNow(session, held[i]!)
      for (const p of queued) {
        if (p.seq > 0 && p.seq <= backlog.seq) continue
        if (session.held !== null) session.held.push(p.frame)
        else this.#sendNow(session, p.frame)
      }
      if (sub.next !== undefined && !session.closed) this.#onSubscribe(session, sub.next)
      return true
    } catch (err) {
      if (session.joining?.get(room) === sub) this.#drop(session, room)
      if (welcome) {
        // the room cap checked before the upgrade, then lost to another instance that took the last place: the
        // same 4003 (come back later), with the reason that says which limit
        const full = err instanceof RoomLimitError
        if (full) this.#opts.log.warn({ connId: session.conn.id, room }, 'chat join refused: room limit reached')
        else this.#opts.log.error({ err, connId: session.conn.id, room }, 'chat join failed')
        session.held = null
        session.conn.endedBy = full ? 'room limit' : 'hub unavailable'
        session.conn.socket.close(CLOSE.OVERLOADED, full ? 'room limit reached' : CLOSE_REASON[CLOSE.OVERLOADED])
        return false
      }
      if (!(err instanceof UnavailableError) && !(err instanceof RoomLimitError)) this.#opts.log.error({ err, connId: session.conn.id, room }, 'subscribe failed')
      const message = err instanceof RoomLimitError ? 'room limit reached: try again later' : 'the hub cannot subscribe right now; retry later'
      this.#refuse(session, 'unavailable', message, ref, undefined)
      this.#abandon(session, sub, 'unavailable', message)
      return true
    }
  }

  #onUnsubscribe (session: ChatSession, room: string, ref: Ref | undefined): void {
    if (!session.subs.has(room)) {
      this.#refuse(session, 'not_subscribed', `not subscribed to ${room}`, ref, undefined)
      return
    }
    this.#drop(session, room)
    const out: UnsubscribedFrame = { type: 'unsubscribed', room }
    if (ref !== undefined) out.ref = ref
    this.#sendJson(session, out)
  }

  /** A subscribe that did not complete: the request waiting for it gets the refusal too. */
  #abandon (session: ChatSession, sub: Joining, code: ErrorCode, message: string): void {
    if (sub.next !== undefined && !session.closed) this.#refuse(session, code, message, sub.next.ref, undefined)
  }

  /** A subscribe is over: the room's frames go straight to the socket from now on. */
  #settle (session: ChatSession, room: string): Joining | undefined {
    const joining = session.joining
    const sub = joining?.get(room)
    if (joining === null || sub === undefined) return undefined
    joining.delete(room)
    if (joining.size === 0) session.joining = null
    return sub
  }

  /**
   * Takes a subscription out of the socket, out of its room's local set and out of the store's presence once
   * it joined there (a join still under way leaves when it returns).
   */
  #drop (session: ChatSession, room: string): void {
    session.subs.delete(room)
    const members = this.#rooms.get(room)
    if (members !== undefined && members.delete(session) && members.size === 0) this.#rooms.delete(room)
    const sub = this.#settle(session, room)
    if (sub === undefined || sub.joined) this.#leave(session, room)
    if (sub !== undefined) sub.joined = false
  }

  #leave (session: ChatSession, room: string): void {
    this.store.leave(room, session.member).catch((err: unknown) => {
      this.#opts.log.error({ err, connId: session.conn.id, room }, 'chat leave failed')
    })
  }

  /**
   * The room a publish or signal goes to, when this socket may write to it: its frame's room, else the chat
   * socket's URL room; a personal stream is written by the HTTP API only. Answers the refusal itself.
   */
  #writable (session: ChatSession, room: string | undefined, ref: Ref | undefined, cid: string | undefined): string | undefined {
    const target = room ?? session.room
    if (target === undefined) {
      this.#refuse(session, 'invalid', 'this frame needs "room"', ref, cid)
      return undefined
    }
    if (target.charCodeAt(0) === 0x40 /* @ */) {
      this.#refuse(session, 'forbidden', 'a personal stream is written by the server only', ref, cid)
      return undefined
    }
    if (!session.subs.has(target)) {
      this.#refuse(session, 'not_subscribed', `subscribe to ${target} first`, ref, cid)
      return undefined
    }
    return target
  }

  #onPublish (session: ChatSession, frame: Extract<ClientFrame, { type: 'message' | 'publish' }>): void {
    const { ref, cid } = frame
    const room = this.#writable(session, frame.room, ref, cid)
    if (room === undefined || this.#overBudget(session, ref, cid)) return
    const { conn } = session
    // the sender dedupes its own retries (any socket, any instance), never someone else's cid
    const draft: Draft = { from: session.name, text: frame.text, cid, userId: conn.userId, sender: conn.userId ?? session.name }
    if (frame.type === 'publish') {
      if (frame.event !== undefined) draft.event = frame.event
      if (frame.dataJson !== undefined) {
        draft.data = frame.data
        draft.dataJson = frame.dataJson
      }
    }
    // message bodies are logged at debug only (privacy); info lines never carry them
    this.#opts.log.debug({ connId: conn.id, room, cid, text: frame.text }, 'chat message')
    // the chat protocol acks a message with a cid only; a publish (or anything with a ref) always
    const ack = frame.type === 'publish' || ref !== undefined || cid !== undefined
    this.store.publish(room, draft).then((result) => {
      this.events.accepted()
      if (!ack) return
      const out: AckFrame = { type: 'ack', room, seq: result.message.seq, id: result.message.id, epoch: result.epoch }
      if (ref !== undefined) out.ref = ref
      if (cid !== undefined) out.cid = cid
      this.#sendJson(session, out)
    }, (err: unknown) => {
      if (!(err instanceof UnavailableError) && !(err instanceof RoomLimitError)) this.#opts.log.error({ err, connId: conn.id }, 'publish failed')
      this.#refuse(session, 'unavailable', 'the hub cannot accept messages right now; retry later', ref, cid)
    })
  }

  #onSignal (session: ChatSession, frame: Extract<ClientFrame, { type: 'signal' }>): void {
    const { ref } = frame
    const room = this.#writable(session, frame.room, ref, undefined)
    if (room === undefined || this.#overBudget(session, ref, undefined)) return
    const { conn } = session
    // serialised here once, for every instance and member: the data is already JSON
    let raw = `{"type":"signal","room":${JSON.stringify(room)},"from":${JSON.stringify(session.name)},"event":"${frame.event}"`
    if (frame.dataJson !== undefined) raw += `,"data":${frame.dataJson}`
    if (conn.userId !== undefined) raw += `,"userId":${JSON.stringify(conn.userId)}`
    raw += '}'
    const ev: SignalEvent = { room, key: session.memberKey, raw }
    this.store.signal(ev).then(() => {
      this.events.accepted()
      const out: AckFrame = { type: 'ack', room }
      if (ref !== undefined) out.ref = ref
      this.#sendJson(session, out)
    }, (err: unknown) => {
      if (!(err instanceof UnavailableError)) this.#opts.log.error({ err, connId: conn.id }, 'signal failed')
      this.#refuse(session, 'unavailable', 'the hub cannot deliver signals right now; retry later', ref, undefined)
    })
  }

  /**
   * Spends one token of the client's message budget; when there is none, answers `rate_limited` and strikes
   * this socket's flood guard (a socket that keeps sending over the budget is closed with 4000).
   */
  #overBudget (session: ChatSession, ref: Ref | undefined, cid: string | undefined): boolean {
    const now = Date.now()
    if (this.budgets.take(session.budgetKey, now)) return false
    this.#refuse(session, 'rate_limited', 'too many messages: slow down', ref, cid)
    if (session.flood.strike(now)) {
      session.conn.endedBy = 'flood'
      this.#opts.log.warn({ connId: session.conn.id, room: session.room }, 'chat flood: closing')
      session.conn.socket.close(CLOSE.RATE_LIMITED, CLOSE_REASON[CLOSE.RATE_LIMITED])
    }
    return true
  }

  #refuse (session: ChatSession, code: ErrorCode, message: string, ref: Ref | undefined, cid: string | undefined): void {
    this.events.refused(code)
    this.#sendJson(session, errorFrame(code, message, ref, cid))
  }

  #presence (ev: PresenceEvent): void {
    // a presence event names the member's key for skipping; the frame leaves it out
    let raw = `{"type":"${ev.type}","room":${JSON.stringify(ev.room)},"name":${JSON.stringify(ev.name)},"ts":${ev.ts}`
    if (ev.userId !== undefined) raw += `,"userId":${JSON.stringify(ev.userId)}`
    this.#fanOut(ev.room, this.#frame(raw + '}'), 0, ev.key)
  }

  /** Serialised and framed once by the caller (textFrame); the same bytes go to every local member. */
  #fanOut (room: string, frame: Buffer, seq: number, skipKey: string | undefined): void {
    const members = this.#rooms.get(room)
    if (members === undefined) return
    const started = process.hrtime.bigint()
    for (const session of members) {
      if (session.memberKey === skipKey) continue
      const joining = session.joining
      if (joining !== null) {
        const sub = joining.get(room)
        if (sub !== undefined) {
          sub.held.push({ frame, seq })
          continue
        }
      }
      this.#deliver(session, frame)
    }
    if (seq > 0) this.events.delivered(members.size, Number(process.hrtime.bigint() - started) / 1e9)
  }

  /** A frame built once; the test suite's tap sees every one. */
  #frame (json: string): Buffer {
    if (this.tap !== undefined) this.tap(json)
    return textFrame(json)
  }

  #sendJson (session: ChatSession, obj: object): void {
    // through the same queue as broadcasts, so an ack never overtakes the message it acknowledges
    this.#deliver(session, this.#frame(JSON.stringify(obj)))
  }

  /** Held while a chat socket's welcome is not out; else queued for this turn's flush. */
  #deliver (session: ChatSession, frame: Buffer): void {
    if (session.held !== null) session.held.push(frame)
    else this.#queue(session, frame)
  }

  /** Written at once when nothing is queued for the socket this turn, else after what is (order is kept). */
  #sendNow (session: ChatSession, frame: Buffer): void {
    if (session.out === null) this.#send(session, frame)
    else this.#queue(session, frame)
  }

  /**
   * Coalescing: frames owed to a socket during one turn of the event loop leave together, in one
   * write, instead of one system call per frame (the syscall is most of a delivery's cost under a flood).
   */
  #queue (session: ChatSession, frame: Buffer): void {
    if (session.out !== null) {
      session.out.push(frame)
      return
    }
    session.out = [frame]
    this.#dirty.push(session)
    if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(this.#flush)
    }
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false
    const dirty = this.#dirty
    this.#dirty = []
    for (let i = 0; i < dirty.length; i++) {
      const session = dirty[i]!
      const out = session.out!
      session.out = null
      if (out.length === 1) {
        this.#send(session, out[0]!)
        continue
      }
      // the whole batch leaves in one writev
      corkForTick(session.conn.socket)
      for (let k = 0; k < out.length; k++) this.#send(session, out[k]!)
    }
  }

  #send (session: ChatSession, frame: Buffer): void {
    const { conn } = session
    if (conn.socket.bufferedAmount > this.#opts.sendBufferLimit) {
      this.#slowConsumer(session)
      return
    }
    conn.sendFrame(frame)
  }

  /** Stops queueing to a socket that does not read, so its backlog cannot grow the heap. */
  #slowConsumer (session: ChatSession): void {
    if (session.slowTimer !== undefined) return
    session.slowTimer = closeSlow(session.conn, this.#opts.log)
  }
}

function errorFrame (code: ErrorCode, message: string, ref: Ref | undefined, cid: string | undefined): ErrorFrame {
  const out: ErrorFrame = { type: 'error', code, message }
  if (ref !== undefined) out.ref = ref
  if (cid !== undefined) out.cid = cid
  return out
}

export type { ChatMessage }
