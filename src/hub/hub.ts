import { FloodGuard } from './rate-limit.js'
import { Budgets } from '../limits/budgets.js'
import { clientKey, DEFAULT_IPV6_PREFIX_BITS } from '../limits/address.js'
import { parseClientFrame, checkText, type ClientFrame, type ErrorCode } from '../protocol/chat.js'
import { textFrame } from '../protocol/frame.js'
import { TEXT, closeSlow, corkForTick, type Connection } from '../registry/connection.js'
import type { LogLike } from '../registry/registry.js'
import type { ChatMessage, Draft, HubStore, Member, PresenceEvent, PublishResult } from './types.js'
import { UnavailableError } from './errors.js'

export interface HubOptions {
  maxLength: number
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

const NO_EVENTS: HubEvents = { accepted () {}, refused () {}, delivered () {} }
/** RATE_LIMIT_MAX_CLIENTS' default, for a hub built without it */
const DEFAULT_MAX_CLIENTS = 100_000

interface Pending {
  /** a whole WebSocket frame (textFrame) */
  frame: Buffer
  /** seq of a message frame, so the ones already in the welcome history are not sent twice */
  seq: number
}

/** One chat socket's state in the hub. */
export class ChatSession {
  /** the client's message budget is kept under this (the user, else the address group) */
  readonly budgetKey: string
  readonly flood: FloodGuard
  /** frames held back until the welcome is out; null once it is */
  pending: Pending[] | null = []
  /** frames (textFrame) waiting for this turn's flush, coalesced into one write; null when none */
  out: Buffer[] | null = null
  joined = false
  closed = false
  slowTimer: NodeJS.Timeout | undefined

  /** presence identity: the user (several tabs count once) when authenticated, else the connection */
  readonly memberKey: string
  /** `{"type":"refresh","token"}` from the client; unset when authentication is off */
  onRefresh: ((token: string) => void) | undefined

  constructor (
    readonly conn: Connection,
    readonly room: string,
    readonly name: string,
    opts: HubOptions
  ) {
    this.memberKey = conn.userId !== undefined ? `u:${conn.userId}` : conn.id
    this.budgetKey = clientKey(conn.ip, conn.userId, opts.ipv6PrefixBits ?? DEFAULT_IPV6_PREFIX_BITS)
    this.flood = new FloodGuard(opts.ratePerSec)
  }
}

/**
 * The instance's side of the broadcast hub: which local sockets are in which room, and how
 * frames reach them. The store (memory or a backplane) decides seq, history and presence and
 * calls back `message`/`presence`; this class serialises each event once and fans it out.
 */
export class Hub {
  readonly #rooms = new Map<string, Set<ChatSession>>()
  readonly options: HubOptions
  /**
   * Message budgets by client (ChatSession.budgetKey): every socket of a client spends from one bucket,
   * so opening another socket, or reconnecting, does not refill it. Refresh frames spend from it too.
   */
  readonly budgets: Budgets
  events: HubEvents = NO_EVENTS
  /** sessions with frames in `out`, flushed once per event-loop turn */
  #dirty: ChatSession[] = []
  #flushScheduled = false
  readonly #opts: HubOptions

  constructor (readonly store: HubStore, opts: HubOptions) {
    this.#opts = opts
    this.options = opts
    this.budgets = new Budgets(opts.ratePerSec, opts.rateBurst, opts.maxClients ?? DEFAULT_MAX_CLIENTS)
    store.setListener({
      message: (msg, raw) => this.#fanOut(msg.room, textFrame(raw ?? JSON.stringify(msg)), msg.seq, undefined),
      presence: (ev) => this.#presence(ev)
    })
  }

  /**
   * Registers a chat socket and sends its welcome (with the backlog after `since`). Frames for
   * the socket are queued until the welcome is out, so nothing published meanwhile is lost or
   * delivered twice. Never rejects.
   */
  async open (session: ChatSession, since: number | undefined, epoch: string | undefined): Promise<void> {
    let members = this.#rooms.get(session.room)
    if (members === undefined) {
      members = new Set()
      this.#rooms.set(session.room, members)
    }
    members.add(session)
    const member = memberOf(session)
    try {
      const { names, count } = await this.store.join(session.room, member)
      session.joined = true
      if (session.closed) {
        await this.store.leave(session.room, member)
        return
      }
      const backlog = await this.store.backlog(session.room, since, epoch)
      const welcome: Record<string, unknown> = {
        type: 'welcome',
        id: session.conn.id,
        name: session.name,
        room: session.room,
        members: names,
        memberCount: count,
        seq: backlog.seq,
        epoch: backlog.epoch,
        history: backlog.messages
      }
      if (backlog.truncated) welcome.truncated = true
      if (session.conn.userId !== undefined) welcome.userId = session.conn.userId
      const queued = session.pending ?? []
      session.pending = null
      session.conn.send(JSON.stringify(welcome), TEXT)
      for (const p of queued) {
        if (p.seq === 0 || p.seq > backlog.seq) this.#send(session, p.frame)
      }
    } catch (err) {
      this.#opts.log.error({ err, connId: session.conn.id, room: session.room }, 'chat join failed')
      session.pending = null
      // 1013: try again later (the store is unavailable)
      session.conn.socket.close(1013, 'hub unavailable')
    }
  }

  /** The socket is gone: leave the room (presence) and forget it. */
  close (session: ChatSession): void {
    session.closed = true
    clearTimeout(session.slowTimer)
    const members = this.#rooms.get(session.room)
    if (members !== undefined) {
      members.delete(session)
      if (members.size === 0) this.#rooms.delete(session.room)
    }
    if (session.joined) {
      session.joined = false
      this.store.leave(session.room, memberOf(session)).catch((err: unknown) => {
        this.#opts.log.error({ err, connId: session.conn.id, room: session.room }, 'chat leave failed')
      })
    }
  }

  /** One text frame from a chat client. Never throws. */
  receive (session: ChatSession, raw: string): void {
    const frame = parseClientFrame(raw, this.#opts.maxLength)
    switch (frame.type) {
      case 'ping':
        this.#sendJson(session, { type: 'pong', ts: Date.now() })
        return
      case 'refresh':
        // a refresh verifies a token: it spends from the message budget like a message
        if (this.#overBudget(session, undefined)) return
        if (session.onRefresh !== undefined) session.onRefresh(frame.token)
        // not a chat message: answered, not counted as a refused one
        else this.#sendJson(session, { type: 'error', code: 'unauthorized', message: 'authentication is off: nothing to refresh' })
        return
      case 'error':
        this.#refuse(session, frame.code, frame.message, frame.cid)
        return
      case 'message':
        this.#accept(session, frame)
    }
  }

  /** Publishes on behalf of the HTTP API (no socket, no rate limit). */
  async publish (room: string, draft: Draft): Promise<PublishResult | { error: ClientFrame }> {
    const invalid = checkText(draft.text, this.#opts.maxLength)
    if (invalid !== undefined) {
      this.events.refused(invalid.type === 'error' ? invalid.code : 'invalid')
      return { error: invalid }
    }
    const result = await this.store.publish(room, draft)
    this.events.accepted()
    return result
  }

  /**
   * Spends one token of the client's message budget; when there is none, answers `rate_limited` and
   * strikes this socket's flood guard (a socket that keeps sending over the budget is closed with 1008).
   */
  #overBudget (session: ChatSession, cid: string | undefined): boolean {
    const now = Date.now()
    if (this.budgets.take(session.budgetKey, now)) return false
    this.#refuse(session, 'rate_limited', 'too many messages: slow down', cid)
    if (session.flood.strike(now)) {
      session.conn.endedBy = 'flood'
      this.#opts.log.warn({ connId: session.conn.id, room: session.room }, 'chat flood: closing')
      session.conn.socket.close(1008, 'rate limit exceeded')
    }
    return true
  }

  #accept (session: ChatSession, frame: { text: string, cid: string | undefined }): void {
    if (this.#overBudget(session, frame.cid)) return
    // the sender dedupes its own retries (any socket, any instance), never someone else's cid
    const draft: Draft = { from: session.name, text: frame.text, cid: frame.cid, userId: session.conn.userId, sender: session.conn.userId ?? session.name }
    // message text is logged at debug only (privacy); info lines never carry it
    this.#opts.log.debug({ connId: session.conn.id, room: session.room, cid: frame.cid, text: frame.text }, 'chat message')
    this.store.publish(session.room, draft).then((result) => {
      this.events.accepted()
      if (frame.cid !== undefined) {
        this.#sendJson(session, { type: 'ack', cid: frame.cid, seq: result.message.seq, id: result.message.id, epoch: result.epoch })
      }
    }, (err: unknown) => {
      if (!(err instanceof UnavailableError)) this.#opts.log.error({ err, connId: session.conn.id }, 'publish failed')
      this.#refuse(session, 'unavailable', 'the hub cannot accept messages right now; retry later', frame.cid)
    })
  }

  #refuse (session: ChatSession, code: ErrorCode, message: string, cid: string | undefined): void {
    this.events.refused(code)
    const frame: Record<string, unknown> = { type: 'error', code, message }
    if (cid !== undefined) frame.cid = cid
    this.#sendJson(session, frame)
  }

  #presence (ev: PresenceEvent): void {
    const out: Record<string, unknown> = { type: ev.type, room: ev.room, name: ev.name, ts: ev.ts }
    if (ev.userId !== undefined) out.userId = ev.userId
    const frame = textFrame(JSON.stringify(out))
    this.#fanOut(ev.room, frame, 0, ev.key)
  }

  /** Serialised and framed once by the caller (textFrame); the same bytes go to every local member. */
  #fanOut (room: string, frame: Buffer, seq: number, skipKey: string | undefined): void {
    const members = this.#rooms.get(room)
    if (members === undefined) return
    const started = process.hrtime.bigint()
    for (const session of members) {
      if (session.memberKey === skipKey) continue
      if (session.pending !== null) session.pending.push({ frame, seq })
      else this.#queue(session, frame)
    }
    if (seq > 0) this.events.delivered(members.size, Number(process.hrtime.bigint() - started) / 1e9)
  }

  /** A frame for one member (refresh answers), through the same ordered queue as everything else. */
  sendTo (session: ChatSession, obj: object): void {
    if (!session.closed) this.#sendJson(session, obj)
  }

  #sendJson (session: ChatSession, obj: object): void {
    const frame = textFrame(JSON.stringify(obj))
    if (session.pending !== null) session.pending.push({ frame, seq: 0 })
    // through the same queue as broadcasts, so an ack never overtakes the message it acknowledges
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

function memberOf (session: ChatSession): Member {
  return { key: session.memberKey, name: session.name, userId: session.conn.userId }
}

export type { ChatMessage }
