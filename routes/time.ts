import type { FastifyInstance } from 'fastify'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { IntervalGroups } from '../src/time/interval-groups.js'
import { TEXT, closeSlow, type Connection } from '../src/registry/connection.js'
import { textFrame } from '../src/protocol/frame.js'
import { clientKey } from '../src/limits/address.js'

const RATE_LIMITED = JSON.stringify({ type: 'error', code: 'rate_limited', message: 'too many messages: slow down' })

const TimeQuery = Type.Object({
  interval: Type.Optional(Type.Integer({ minimum: 100, maximum: 60_000 }))
}, { additionalProperties: true })

/** The time socket's only client frames: `{"type":"ping"}`, and `{"type":"refresh","token"}` with auth. */
function clientFrame (buf: Buffer): { type?: unknown, token?: unknown } | null {
  if (buf[0] !== 0x7b /* { */) return null
  try {
    const frame = JSON.parse(buf.toString('utf8')) as unknown
    return typeof frame === 'object' && frame !== null ? frame as { type?: unknown, token?: unknown } : null
  } catch {
    return null
  }
}

function timeFrame (now: number): string {
  return JSON.stringify({ type: 'time', iso: new Date(now).toISOString(), epochMs: now })
}

/** /ws/time: the server's clock now and every interval; one timer per distinct interval. */
export default async function timeRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const route = app.registry.route('time')
  const limit = app.realtimeConfig.SEND_BUFFER_LIMIT_BYTES
  /**
   * Whether the socket may be sent one more frame: one that already holds more than the limit
   * unsent (its client does not read) is closed as a slow consumer instead, as chat does.
   */
  function canSend (conn: Connection): boolean {
    if (conn.socket.bufferedAmount <= limit) return true
    closeSlow(conn, app.log)
    return false
  }
  const groups = new IntervalGroups<Connection>((members) => {
    // framed once: each socket's share is one write of the same bytes
    const frame = textFrame(timeFrame(Date.now()))
    for (const conn of members) if (canSend(conn)) conn.sendFrame(frame)
  })
  app.addHook('onClose', async () => groups.clear())

  app.get('/ws/time', { websocket: true, schema: { querystring: TimeQuery } }, (socket, req) => {
    const interval = req.query.interval ?? app.realtimeConfig.TIME_INTERVAL_MS
    const conn = app.registry.open(socket, req, { route })
    app.auth.watch(conn, req.identity, true)
    socket.on('message', (data, isBinary) => {
      try {
        const buf = data as Buffer
        conn.messagesIn++
        conn.bytesIn += buf.length
        // a token is a few hundred bytes to a few KB; nothing else the time socket takes is longer than a ping
        if (isBinary || buf.length > 16_384) return
        const frame = clientFrame(buf)
        // {"type":"ping"} -> {"type":"pong","ts"}: lets a page measure its round-trip on the same socket
        // a client may ask for replies it never reads: they count against the limit like the ticks
        if (frame?.type === 'ping') {
          if (canSend(conn)) conn.send(JSON.stringify({ type: 'pong', ts: Date.now() }), TEXT)
        } else if (frame?.type === 'refresh') {
          // a refresh verifies a token: it spends from the client's message budget, shared with its chat sockets
          if (!app.hub.budgets.take(clientKey(conn.ip, conn.userId, app.realtimeConfig.IPV6_PREFIX_BITS), Date.now())) {
            if (canSend(conn)) conn.send(RATE_LIMITED, TEXT)
            return
          }
          app.auth.refresh(conn, frame.token).then((reply) => { if (canSend(conn)) conn.send(JSON.stringify(reply), TEXT) }, (err: unknown) => app.registry.fail(conn, err))
        }
      } catch (err) {
        app.registry.fail(conn, err)
      }
    })
    // the timer membership dies with the socket: nothing leaks
    socket.on('close', () => groups.delete(interval, conn))
    conn.send(timeFrame(Date.now()), TEXT)
    groups.add(interval, conn)
  })
}
