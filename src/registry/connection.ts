import { randomUUID } from 'node:crypto'
import type { ExpiryTimer } from '../auth/expiry.js'
import { framePayload, payloadLength } from '../protocol/frame.js'
import { streamOf, type RawStream } from '../internals.js'
import { CLOSE, CLOSE_REASON } from '../protocol/codes.js'

/**
 * What a connection needs of a WebSocket (ws's WebSocket satisfies it). Listeners are called as an
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
  ping (data?: Buffer): void
  on (event: 'close', listener: (this: SocketLike, code: number, reason: Buffer) => void): unknown
  on (event: 'pong', listener: (this: SocketLike, data: Buffer) => void): unknown
  on (event: 'error', listener: (this: SocketLike, err: Error) => void): unknown
}

/** WebSocket readyState of an open socket (ws's WebSocket.OPEN, without importing ws). */
export const OPEN = 1
/** send() options, made once: a Buffer is binary by default */
export const TEXT = { binary: false }
export const BINARY = { binary: true }

/** A route's name, as registered with the registry (`registry.route(name)`): labels counts and metrics. */
export type Route = string

const uncork = (tcp: RawStream) => tcp.uncork()

/**
 * Corks the socket's stream for the rest of this tick (once: a stream already corked is left alone),
 * so every frame written before the event loop moves on leaves in one writev. ws corks around each
 * frame by itself; the outer cork is what makes one system call of many frames. Nothing waits for a
 * later turn: the uncork runs with process.nextTick, as soon as the current callback returns.
 */
export function corkForTick (socket: SocketLike): void {
  const tcp = streamOf(socket)
  if (tcp !== undefined && tcp.writableCorked === 0) {
    tcp.cork()
    process.nextTick(uncork, tcp)
  }
}

/** how long a slow consumer gets to take its close frame before it is cut off */
export const SLOW_CLOSE_GRACE_MS = 1000

const terminate = (socket: SocketLike) => socket.terminate()

/**
 * Stops a socket that does not read from growing the heap: closes it with 4001 `slow consumer` and,
 * since that close frame queues behind everything the peer is not reading, terminates it after
 * SLOW_CLOSE_GRACE_MS. Does nothing to a socket that is no longer open (already closing: its close is
 * under way). Returns the grace timer (unref'd), which an owner may clear once the socket has closed;
 * left alone, it fires on a closed socket, where terminate does nothing.
 */
export function closeSlow (conn: Connection, log: { warn (obj: object, msg: string): void }): NodeJS.Timeout | undefined {
  const socket = conn.socket
  if (socket.readyState !== OPEN) return undefined
  conn.endedBy = 'slow consumer'
  log.warn({ connId: conn.id, route: conn.route, room: conn.room, bufferedAmount: socket.bufferedAmount }, 'slow consumer: closing')
  socket.close(CLOSE.SLOW_CONSUMER, CLOSE_REASON[CLOSE.SLOW_CONSUMER])
  const timer = setTimeout(terminate, SLOW_CLOSE_GRACE_MS, socket)
  timer.unref()
  return timer
}

/** What an entry is made of (the registry adds ip, user agent and user from the upgrade request). */
export interface ConnectionInfo {
  route: Route
  ip: string
  userAgent: string
  room?: string | undefined
  /** the authenticated user (AUTH_MODE=jwt) */
  userId?: string | undefined
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

/** One open socket and its write path. Holds no reference to the upgrade request, so idle sockets stay small. */
export class Connection {
  // randomUUID() returns a rope of 14 concatenated pieces held per socket; a flat copy is far smaller
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
    this.#raw = socket.extensions === '' ? streamOf(socket) : undefined
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
   * send(), for frames that come in bursts (echo answers every frame of a read): the burst of a tick
   * leaves in one writev (corkForTick); a lone frame leaves exactly when send() would have sent it.
   */
  sendBatched (data: Buffer | string, options: { binary: boolean }): void {
    corkForTick(this.socket)
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
