import { randomBytes } from 'node:crypto'
import { SlotCounts, type Slot } from './caps.js'
import { Connection, OPEN, type ConnectionInfo, type Route, type SocketLike } from './connection.js'

export interface LogLike {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

/** A socket's registry entry, kept on the socket itself (see connectionOf). */
const kConnection = Symbol('connection')

/**
 * The registry entry of a socket that `add` has taken, or undefined. It lets a listener be one
 * function for every socket (`function (this: WebSocket) { connectionOf(this) }`) instead of a
 * closure and its context per socket, which an idle socket would otherwise hold.
 */
export function connectionOf (socket: object): Connection | undefined {
  return (socket as Holder)[kConnection]
}

type Holder = { [kConnection]?: Connection }

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
  /** open sockets per registered route (see route()), in the order the routes were registered */
  readonly #byRoute = new Map<Route, number>()
  #drained: (() => void) | undefined
  /** set once when shutdown begins (drain): from then on upgrades are refused and /ready says 503 */
  #draining = false
  observer: RegistryObserver | undefined
  readonly #onClose: (this: SocketLike, code: number, reason: Buffer) => void
  readonly #onError: (this: SocketLike, err: Error) => void
  readonly #onPong: (this: SocketLike, data: Buffer) => void
  /**
   * The payload of the current heartbeat round's pings (see pingRound). One per round, shared by every
   * socket: no per-socket state, and a socket can only learn it by receiving its own ping.
   */
  #pingNonce: Buffer | undefined

  /** `slots`: the per-address and per-user counts the caps are checked against; each entry counts in them */
  constructor (readonly log: LogLike, readonly slots: SlotCounts = new SlotCounts()) {
    const registry = this
    this.#onClose = function (code, reason) {
      const conn = connectionOf(this)
      if (conn !== undefined) registry.remove(conn, code, reason)
    }
    // liveness needs a real answer: only a pong carrying this round's ping payload counts. An unsolicited
    // pong (none asked for, or a stale or made-up payload) must not keep a silent peer alive.
    this.#onPong = function (data) {
      const nonce = registry.#pingNonce
      if (nonce === undefined || !nonce.equals(data)) return
      const conn = connectionOf(this)
      if (conn !== undefined) conn.alive = true
    }
    // the one socket-error policy: ws has already started the close with the right code
    // (1002/1007/1009) for protocol errors; anything else closes with 1011
    this.#onError = function (err) {
      registry.log.info({ err, connId: connectionOf(this)?.id }, 'ws error')
      if (this.readyState === OPEN) this.close(1011, 'internal error')
    }
  }

  get size (): number {
    return this.#byId.size
  }

  get draining (): boolean {
    return this.#draining
  }

  /**
   * Makes a route name known, so its count (and metrics) show from the start, at zero. Returns the
   * name, for the route's add/open calls. A name used by add without this is registered then.
   */
  route (name: Route): Route {
    if (!this.#byRoute.has(name)) this.#byRoute.set(name, 0)
    return name
  }

  /** Whether `name` was registered with route(). */
  hasRoute (name: Route): boolean {
    return this.#byRoute.has(name)
  }

  /** The registered route names, in registration order. */
  routes (): IterableIterator<Route> {
    return this.#byRoute.keys()
  }

  /** `slot`: the cap slot claimed for this socket when its upgrade was checked (see SlotCounts.claim) */
  add (socket: SocketLike, info: ConnectionInfo, slot?: Slot): Connection {
    this.slots.adopt(slot, info.ip, info.userId)
    const conn = new Connection(socket, info)
    this.#byId.set(conn.id, conn)
    this.#byRoute.set(info.route, (this.#byRoute.get(info.route) ?? 0) + 1)
    const holder: Holder = socket as Holder
    holder[kConnection] = conn
    // the same three functions for every socket: an idle socket holds no closure of its own
    socket.on('pong', this.#onPong)
    socket.on('close', this.#onClose)
    socket.on('error', this.#onError)
    this.log.info({ connId: conn.id, route: conn.route, room: conn.room, ip: conn.ip, userId: conn.userId }, 'ws connected')
    this.observer?.opened(conn)
    return conn
  }

  remove (conn: Connection, code: number, reason: Buffer | string): void {
    if (!this.#byId.delete(conn.id)) return
    this.#byRoute.set(conn.route, (this.#byRoute.get(conn.route) ?? 1) - 1)
    this.slots.drop(conn.ip, conn.userId)
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

  get (id: string): Connection | undefined {
    return this.#byId.get(id)
  }

  values (): IterableIterator<Connection> {
    return this.#byId.values()
  }

  /**
   * Starts a heartbeat round: returns a fresh random payload for this round's pings. From now on only a
   * pong carrying it marks a socket alive; answers to earlier rounds no longer count.
   */
  pingRound (): Buffer {
    this.#pingNonce = randomBytes(8)
    return this.#pingNonce
  }

  /** Open sockets per registered route, every registered route included (at zero when it has none). */
  countByRoute (): Record<Route, number> {
    return Object.fromEntries(this.#byRoute)
  }

  /**
   * Shutdown: from now on `draining` is true; every socket is closed with 1001 and gets up to
   * `graceMs` to finish its close handshake (see closeAll).
   */
  async drain (graceMs: number): Promise<void> {
    this.#draining = true
    await this.closeAll(1001, 'server shutting down', graceMs)
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
