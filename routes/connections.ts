import type { FastifyInstance } from 'fastify'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { CLOSE } from '../src/protocol/codes.js'

// A close frame's payload is at most 125 bytes, 2 of them the code. ws's close() throws past 123 bytes of
// UTF-8: checked first, so the caller gets a 400 and the socket is left as it was (not marked as ended by
// an admin, its later close counted under the wrong reason)
const REASON_MAX_BYTES = 123

const ConnectionView = Type.Object({
  id: Type.String(),
  route: Type.String(),
  room: Type.Optional(Type.String()),
  ip: Type.String(),
  userAgent: Type.String(),
  userId: Type.Optional(Type.String()),
  connectedAt: Type.String(),
  messagesIn: Type.Integer(),
  messagesOut: Type.Integer(),
  bytesIn: Type.Integer(),
  bytesOut: Type.Integer()
})
const ListQuery = Type.Object({
  route: Type.Optional(Type.String({ maxLength: 64 })), // any route the registry knows (routes register their names)
  room: Type.Optional(Type.String({ maxLength: 64 })),
  userId: Type.Optional(Type.String({ maxLength: 256 })),
  limit: Type.Integer({ minimum: 1, maximum: 10_000, default: 100 })
})
const KickQuery = Type.Object({
  // 1000 normal, 1008 policy, 3000-4999 application codes (the default 4500 tells clients not to come back);
  // never 1005/1006/1015, which no endpoint may send
  code: Type.Union([Type.Literal(1000), Type.Literal(1008), Type.Integer({ minimum: 3000, maximum: 4999 })], { default: CLOSE.KICKED }),
  // the schema counts UTF-16 units; the handler counts bytes (REASON_MAX_BYTES)
  reason: Type.String({ maxLength: REASON_MAX_BYTES, default: 'closed by an administrator' })
})

/** The registry over HTTP for operators (Bearer API_TOKEN): who is connected, and closing one socket. */
export default async function connectionRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  // onRequest, not preHandler: a caller without the token is answered before any body is read
  app.addHook('onRequest', app.requireApiToken)

  app.get('/connections', {
    schema: { querystring: ListQuery, response: { 200: Type.Object({ total: Type.Integer(), connections: Type.Array(ConnectionView) }) } }
  }, async (req) => {
    const { route, room, userId, limit } = req.query
    if (route !== undefined && !app.registry.hasRoute(route)) {
      throw Object.assign(new Error(`no WebSocket route named ${route}`), { statusCode: 400 })
    }
    const out = []
    let total = 0
    for (const conn of app.registry.values()) {
      if (route !== undefined && conn.route !== route) continue
      if (room !== undefined && conn.room !== room) continue
      if (userId !== undefined && conn.userId !== userId) continue
      total++
      if (out.length < limit) out.push(conn.toJSON())
    }
    return { total, connections: out }
  })

  app.delete('/connections/:id', {
    schema: { params: Type.Object({ id: Type.String({ maxLength: 64 }) }), querystring: KickQuery }
  }, async (req, reply) => {
    const bytes = Buffer.byteLength(req.query.reason)
    if (bytes > REASON_MAX_BYTES) {
      return await reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `reason is ${bytes} bytes of UTF-8: a close reason holds at most ${REASON_MAX_BYTES}` })
    }
    const conn = app.registry.get(req.params.id)
    if (conn === undefined) return await reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no such connection' })
    conn.endedBy = 'admin'
    req.log.info({ connId: conn.id, code: req.query.code }, 'connection closed by an administrator')
    conn.socket.close(req.query.code, req.query.reason)
    return await reply.code(204).send()
  })
}
