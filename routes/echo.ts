import type { FastifyInstance } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import { connectionOf } from '../src/registry/registry.js'
import { BINARY, TEXT } from '../src/registry/connection.js'

/** /ws/echo: every frame back to its sender, same type, same bytes, in order. */
export default async function echoRoutes (app: FastifyInstance) {
  const route = app.registry.route('echo')
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
