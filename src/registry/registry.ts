import { randomUUID } from 'node:crypto'

/** What the registry needs of a WebSocket (ws's WebSocket satisfies it). */
export interface SocketLike {
  readonly readyState: number
  readonly bufferedAmount: number
  send (data: Buffer | string, options: { binary: boolean }): void
  close (code?: number, reason?: string): void
  terminate (): void
  ping (): void
  on (event: 'close', listener: (code: number, reason: Buffer) => void): unknown
  on (event: 'pong', listener: () => void): unknown
}

export interface LogLike {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
  error (obj: object, msg: string): void
}

export const OPEN = 1

export type Route = 'echo' | 'time' | 'chat'

export interface ConnectionInfo {
  route: Route
  ip: string
  userAgent: string
  room?: string | undefined
}

export interface ConnectionJSON {
  id: string
  route: Route
  room: string | undefined
  ip: string
  userAgent: string
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
  messagesIn = 0
  messagesOut = 0
  bytesIn = 0
  bytesOut = 0
  /** cleared by each heartbeat ping, set by the pong */
  alive = true
  /** why the server ended the socket, when it did so without a close handshake */
  endedBy: string | undefined

  constructor (readonly socket: SocketLike, info: ConnectionInfo) {
    this.route = info.route
    this.ip = info.ip
    this.userAgent = info.userAgent
    this.room = info.room
  }

  /** Sends one frame when the socket is open, counting it. */
  send (data: Buffer | string, options: { binary: boolean }): void {
    const socket = this.socket
    if (socket.readyState !== OPEN) return
    socket.send(data, options)
    this.messagesOut++
    this.bytesOut += data.length
  }

  toJSON (): ConnectionJSON {
    return {
      id: this.id,
      route: this.route,
      room: this.room,
      ip: this.ip,
      userAgent: this.userAgent,
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
  #drained: (() => void) | undefined
  observer: RegistryObserver | undefined

  constructor (readonly log: LogLike) {}

  get size (): number {
    return this.#byId.size
  }

  add (socket: SocketLike, info: ConnectionInfo): Connection {
    const conn = new Connection(socket, info)
    this.#byId.set(conn.id, conn)
    this.#byRoute.set(info.route, (this.#byRoute.get(info.route) ?? 0) + 1)
    socket.on('pong', () => { conn.alive = true })
    socket.on('close', (code, reason) => this.remove(conn, code, reason))
    this.log.info({ connId: conn.id, route: conn.route, room: conn.room, ip: conn.ip }, 'ws connected')
    this.observer?.opened(conn)
    return conn
  }

  remove (conn: Connection, code: number, reason: Buffer | string): void {
    if (!this.#byId.delete(conn.id)) return
    this.#byRoute.set(conn.route, (this.#byRoute.get(conn.route) ?? 1) - 1)
    this.log.info({
      connId: conn.id,
      route: conn.route,
      room: conn.room,
      ip: conn.ip,
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
