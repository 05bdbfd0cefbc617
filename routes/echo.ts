import type { FastifyInstance } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { connectionOf } from '../src/registry/registry.js'
import { BINARY, TEXT, closeSlow, type Connection } from '../src/registry/connection.js'
import { duplexOf, webSocketOf } from '../src/internals.js'

/** Node reads a socket at most this much at a time; ws still delivers the rest of a read's frames after pause() */
const READ_CHUNK_BYTES = 65_536
/** a server frame's header at most (unmasked, 64-bit length) */
const FRAME_HEADER_BYTES = 10

/**
 * Unsent bytes past which an echo socket stops being read. Past it, the server can still queue the
 * frame that crossed it (at most MAX_PAYLOAD_BYTES) and the rest of the read being parsed (at most one
 * read): the highest mark that keeps that worst case within SEND_BUFFER_LIMIT_BYTES, so a slow reader
 * is paused as late as the limit allows. A limit too small for that (below MAX_PAYLOAD_BYTES + 64 KiB)
 * gives 0: paused as soon as the stream itself asks to wait, and closed past the limit (see overMark).
 */
function echoHighWaterMark (sendBufferLimit: number, maxPayload: number): number {
  return Math.max(0, sendBufferLimit - maxPayload - FRAME_HEADER_BYTES - READ_CHUNK_BYTES)
}

/** one 'drain' listener for every paused echo socket: the stream finds its WebSocket */
function resumeReads (this: object): void {
  webSocketOf(this)?.resume()
}

/**
 * /ws/echo: every frame back to its sender, same type, same bytes, in order. Backpressure: a socket
 * whose unsent bytes pass the high-water mark is not read until its stream drains, so a peer that
 * sends without reading fills its own TCP window instead of the server's heap.
 */
export default async function echoRoutes (app: FastifyInstance) {
  const route = app.registry.route('echo')
  const limit = app.realtimeConfig.SEND_BUFFER_LIMIT_BYTES
  const mark = echoHighWaterMark(limit, app.realtimeConfig.MAX_PAYLOAD_BYTES)

  /** The rare path, once past the mark: pause reads until the stream drains. */
  function overMark (socket: WebSocket, conn: Connection, sent: number): void {
    // already past the limit before this frame: only when frames inflate (permessage-deflate) or the
    // limit is below what the mark can cover; stop queueing as chat does
    if (socket.bufferedAmount - sent > limit) {
      closeSlow(conn, app.log)
      return
    }
    if (socket.isPaused) return
    const stream = duplexOf(socket)
    // 'drain' comes only after the stream refused a write: below its own high-water mark there is none to wait for
    if (stream === undefined || !stream.writableNeedDrain) return
    // a paused socket reads nothing, pongs included: a peer that reads nothing for a heartbeat interval is reaped
    socket.pause()
    stream.once('drain', resumeReads)
  }

  // one listener for every echo socket, which finds its entry through the socket: no closure per socket
  function onMessage (this: WebSocket, data: RawData, isBinary: boolean) {
    const conn = connectionOf(this)
    if (conn === undefined) return
    try {
      const buf = data as Buffer
      conn.messagesIn++
      conn.bytesIn += buf.length
      // one writev for all the frames of a read, not one per frame (see sendBatched)
      conn.sendBatched(buf, isBinary ? BINARY : TEXT)
      // the hot path's only backpressure cost: one comparison
      if (this.bufferedAmount > mark) overMark(this, conn, buf.length)
    } catch (err) {
      app.registry.fail(conn, err) // never reaches uncaughtException
    }
  }

  app.get('/ws/echo', { websocket: true }, (socket, req) => {
    const conn = app.registry.open(socket, req, { route })
    // closed at the token's exp; no expiring/refresh frames: every echo frame is the client's own
    app.auth.watch(conn, req.identity, false)
    // attach before any await: ws drops frames that arrive with no listener
    socket.on('message', onMessage)
  })
}
