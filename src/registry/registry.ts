import { randomUUID } from 'node:crypto'
import type { ExpiryTimer } from '../auth/expiry.js'
import { framePayload, payloadLength } from '../protocol/frame.js'

/**
 * What the registry needs of a WebSocket (ws's WebSocket satisfies it). Listeners are called as an
 * EventEmitter calls them, with the socket as `this`: the registry's are one function for all sockets.
 */
export interface SocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  /** the negotiated extensions ('' when none); ws's WebSocket has it, fakes may not */
  readonly extensions?: string
  send (data: Buffer | string, options: { binary: boolean }): void
  close (code?: number, reason?: string): void
  terminate (): void
  ping (): void
  on (event: 'close', listener: (this: SocketLike, code: number, reason: Buffer) => void): unknown
  on (event: 'pong', listener: (this: SocketLike) => void): unknown
  on (event: 'error', listener: (this: SocketLike, err: Error) => void): unknown
}

export interface LogLike {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export const OPEN = 1

/** The stream under a ws WebSocket (a net.Socket; injectWS's duplex), as far as writing to it needs. */
interface RawStream {
  readonly writableCorked: number
  cork (): void
  uncork (): void
  write (chunk: Buffer): boolean
}

/**
 * ws keeps its stream in `_socket` (private, stable through ws 8). The unit tests' fakes have none:
 * their sends then go out one by one through send(), which is only slower.
 */
export function tcpOf (socket: SocketLike): RawStream | undefined {
  return (socket as { _socket?: RawStream })._socket ?? undefined
}

const TEXT = { binary: false }

/** A socket's registry entry, kept on the socket itself (see connectionOf). */
const kConnection = Symbol('connection')

/**
 * The registry entry of a socket that `add` has taken, or undefined. It lets a listener be one
 * function for every socket (`function (this: WebSocket) { connectionOf(this) }`) instead of a
 * closure and its context per socket: about 100 B of each idle socket's heap per listener.
 */
export function connectionOf (socket: object): Connection | undefined {
  return (socket as Holder)[kConnection]
}

type Holder = { [kConnection]?: Connection }

const uncork = (tcp: RawStream) => tcp.uncork()

function onPong (this: SocketLike): void {
  const conn = connectionOf(this)
  if (conn !== undefined) conn.alive = true
}

export type Route = 'echo' | 'time' | 'chat'

export interface ConnectionInfo {
  route: Route
  ip: string
  userAgent: string
  room?: string | undefined
  /** the authenticated user (AUTH_MODE=jwt) */
  userId?: string | undefined
  /** the slot claimed for this socket when its upgrade was checked against the caps (see Slot) */
  slot?: Slot | undefined
}

/** Per-client caps: sockets per address (every mode) and per authenticated user. */
export interface Caps {
  perIp: number
  perUser: number
}

/**
 * An upgrade's place in the per-address and per-user counts, taken when the upgrade is checked. Either
 * the socket's registry entry takes it over (`add`), or it is given back (`release`): exactly once.
 */
export class Slot {
  held = true
  /** what gives the slot back if the upgrade is abandoned; dropped once the entry takes it over */
  onAbandon: (() => void) | undefined
  constructor (readonly ip: string, readonly userId: string | undefined) {}
}

export interface ConnectionJSON {
  id: string
  route: Route
  room: string | undefined
  ip: string
  userAgent: string
  userId?: string
  connectedAt: string
  messagesIn: number
  messagesOut: number
  bytesIn: number
  bytesOut: number
}

/** One open socket. Holds no reference to the upgrade request, so idle sockets stay small. */
export class Connection {
  // randomUUID() returns a rope of 14 concatenated pieces (~450 B held per socket); a flat copy is ~56 B
  readonly id = Buffer.from(randomUUID(), 'latin1').toString('latin1')
  readonly connectedAt = Date.now()
  readonly route: Route
  readonly ip: string
  readonly userAgent: string
  readonly room: string | undefined
  readonly userId: string | undefined
  /** closes the socket when its token expires (AUTH_MODE=jwt) */
  expiry: ExpiryTimer | undefined
  messagesIn = 0
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  /** cleared by each heartbeat ping, set by the pong */
  alive = true
  /** why the server ended the socket, when it did so without a close handshake */
  endedBy: string | undefined
  /**
   * The stream that frames built by textFrame() may be written to as they are. Without
   * permessage-deflate ws's sender holds nothing back (it queues only to compress, or to read a
   * Blob, which we never send), so such writes keep their order with ws's own frames: welcome,
   * pings, close. With deflate, frames go through ws to be compressed.
   */
  readonly #raw: RawStream | undefined

  constructor (readonly socket: SocketLike, info: ConnectionInfo) {
    this.route = info.route
    this.ip = info.ip
    this.userAgent = info.userAgent
    this.room = info.room
    this.userId = info.userId
    this.#raw = socket.extensions === '' ? tcpOf(socket) : undefined
  }

  /** Sends one frame when the socket is open, counting it. */
  send (data: Buffer | string, options: { binary: boolean }): void {
    const socket = this.socket
    if (socket.readyState !== OPEN) return
    socket.send(data, options)
    this.messagesOut++
    this.bytesOut += data.length
  }

  /**
   * Sends a text frame built once by textFrame() for many sockets: one write of the shared bytes,
   * where send() would frame it again for this socket. Falls back to send() with the payload when
   * the frame must go through ws (permessage-deflate).
   */
  sendFrame (frame: Buffer): void {
    if (this.socket.readyState !== OPEN) return
    const raw = this.#raw
    if (raw !== undefined) raw.write(frame)
    else this.socket.send(framePayload(frame), TEXT)
    this.messagesOut++
    this.bytesOut += payloadLength(frame)
  }

  /**
   * send(), for frames that come in bursts (echo answers every frame of a read): the first frame of a
   * tick corks the TCP socket and queues the uncork with process.nextTick, so the burst leaves in one
   * writev as soon as the current I/O callback returns, before the event loop moves on. ws corks around
   * each frame by itself; the outer cork is what makes one system call of many frames. Nothing waits for
   * a later turn: a lone frame leaves exactly when send() would have sent it, plus the rest of its callback.
   */
  sendBatched (data: Buffer | string, options: { binary: boolean }): void {
    const tcp = tcpOf(this.socket)
    if (tcp !== undefined && tcp.writableCorked === 0) {
      tcp.cork()
      process.nextTick(uncork, tcp)
    }
    this.send(data, options)
  }

  toJSON (): ConnectionJSON {
    return {
      id: this.id,
      route: this.route,
      room: this.room,
      ip: this.ip,
      userAgent: this.userAgent,
      ...(this.userId !== undefined ? { userId: this.userId } : {}),
      connectedAt: new Date(this.connectedAt).toISOString(),
      messagesIn: this.messagesIn,
      messagesOut: this.messagesOut,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut
    }
  }
}

/** Told of every connect and close (metrics); must be cheap and must not throw. */
export interface RegistryObserver {
  opened (conn: Connection): void
  closed (conn: Connection, code: number): void
}

/**
 * Every open socket of the instance, whatever its route: the one source for connection
 * counts, the heartbeat and shutdown. Logs each connect and close as one JSON line.
 */
export class ConnectionRegistry {
  readonly #byId = new Map<string, Connection>()
  readonly #byRoute = new Map<Route, number>()
  /** sockets (and upgrades under way) per address and per user, for the caps */
  readonly #perIp = new Map<string, number>()
  readonly #perUser = new Map<string, number>()
  #drained: (() => void) | undefined
  observer: RegistryObserver | undefined
  readonly #onClose: (this: SocketLike, code: number, reason: Buffer) => void
  readonly #onError: (this: SocketLike, err: Error) => void

  constructor (readonly log: LogLike) {
    const registry = this
    this.#onClose = function (code, reason) {
      const conn = connectionOf(this)
      if (conn !== undefined) registry.remove(conn, code, reason)
    }
    this.#onError = function (err) {
      // ws has already started the close with the right code (1002/1007/1009) for protocol errors
      registry.log.info({ err, connId: connectionOf(this)?.id }, 'ws error')
      if (this.readyState === OPEN) this.close(1011, 'internal error')
    }
  }

  get size (): number {
    return this.#byId.size
  }

  /** Which cap a new socket from `ip` (and `userId`) would pass, or undefined when it fits. */
  overCap (ip: string, userId: string | undefined, caps: Caps): 'ip' | 'user' | undefined {
    if ((this.#perIp.get(ip) ?? 0) >= caps.perIp) return 'ip'
    if (userId !== undefined && (this.#perUser.get(userId) ?? 0) >= caps.perUser) return 'user'
    return undefined
  }

  /**
   * Checks the caps and counts the socket in the same step, so concurrent upgrades cannot all pass
   * the check before any of them is counted. Give the slot to `add`, or `release` it.
   */
  claim (ip: string, userId: string | undefined, caps: Caps): Slot | 'ip' | 'user' {
    const over = this.overCap(ip, userId, caps)
    if (over !== undefined) return over
    this.#count(ip, userId)
    return new Slot(ip, userId)
  }

  /** Gives a slot back; a second call does nothing. */
  release (slot: Slot): void {
    if (!slot.held) return
    slot.held = false
    this.#uncount(slot.ip, slot.userId)
  }

  /** Open sockets (and upgrades under way) from an address. */
  countByIp (ip: string): number {
    return this.#perIp.get(ip) ?? 0
  }

  add (socket: SocketLike, info: ConnectionInfo): Connection {
    // the entry takes over the slot claimed at the upgrade check (it counts from then on, and is counted
    // back in remove); a socket added without one (tests, embedders) is counted now
    if (info.slot?.held === true) info.slot.held = false
    else this.#count(info.ip, info.userId)
    const conn = new Connection(socket, info)
    this.#byId.set(conn.id, conn)
    this.#byRoute.set(info.route, (this.#byRoute.get(info.route) ?? 0) + 1)
    const holder: Holder = socket as Holder
    holder[kConnection] = conn
    // the same three functions for every socket: an idle socket holds no closure of its own
    socket.on('pong', onPong)
    socket.on('close', this.#onClose)
    socket.on('error', this.#onError)
    this.log.info({ connId: conn.id, route: conn.route, room: conn.room, ip: conn.ip, userId: conn.userId }, 'ws connected')
    this.observer?.opened(conn)
    return conn
  }

  remove (conn: Connection, code: number, reason: Buffer | string): void {
    if (!this.#byId.delete(conn.id)) return
    this.#byRoute.set(conn.route, (this.#byRoute.get(conn.route) ?? 1) - 1)
    this.#uncount(conn.ip, conn.userId)
    conn.expiry?.stop()
    this.log.info({
      connId: conn.id,
      route: conn.route,
      room: conn.room,
      ip: conn.ip,
      userId: conn.userId,
      code,
      reason: String(reason),
      endedBy: conn.endedBy,
      durationMs: Date.now() - conn.connectedAt,
      messagesIn: conn.messagesIn,
      messagesOut: conn.messagesOut
    }, 'ws closed')
    this.observer?.closed(conn, code)
    if (this.#byId.size === 0 && this.#drained !== undefined) this.#drained()
  }

  #count (ip: string, userId: string | undefined): void {
    this.#perIp.set(ip, (this.#perIp.get(ip) ?? 0) + 1)
    if (userId !== undefined) this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1)
  }

  #uncount (ip: string, userId: string | undefined): void {
    uncount(this.#perIp, ip)
    if (userId !== undefined) uncount(this.#perUser, userId)
  }

  get (id: string): Connection | undefined {
    return this.#byId.get(id)
  }

  values (): IterableIterator<Connection> {
    return this.#byId.values()
  }

  countByRoute (): Record<Route, number> {
    return {
      echo: this.#byRoute.get('echo') ?? 0,
      time: this.#byRoute.get('time') ?? 0,
      chat: this.#byRoute.get('chat') ?? 0
    }
  }

  /**
   * Closes every socket with `code`, waits up to `graceMs` for the close handshakes,
   * then terminates whatever is left (a peer that never answers cannot hold shutdown).
   */
  async closeAll (code: number, reason: string, graceMs: number): Promise<void> {
    if (this.#byId.size === 0) return
    const drained = new Promise<void>((resolve) => { this.#drained = resolve })
    for (const conn of this.#byId.values()) conn.socket.close(code, reason)
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs) })
    await Promise.race([drained, late])
    clearTimeout(timer)
    this.#drained = undefined
    for (const conn of this.#byId.values()) {
      conn.endedBy = 'shutdown timeout'
      conn.socket.terminate()
    }
  }
}

function uncount (counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1
  if (n <= 0) counts.delete(key)
  else counts.set(key, n)
}
