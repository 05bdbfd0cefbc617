import type { FastifyInstance } from 'fastify'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'

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
  // 1000 normal, 1008 policy (moderation), 3000-4999 application codes
  code: Type.Union([Type.Literal(1000), Type.Literal(1008), Type.Integer({ minimum: 3000, maximum: 4999 })], { default: 1008 }),
  reason: Type.String({ maxLength: 120, default: 'closed by an administrator' })
})

/** The registry over HTTP for operators (Bearer API_TOKEN): who is connected, and closing one socket. */
export default async function connectionRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.addHook('preHandler', app.requireApiToken)

  app.get('/connections', {
    schema: { querystring: ListQuery, response: { 200: Type.Object({ total: Type.Integer(), connections: Type.Array(ConnectionView) }) } }
  }, async (req) => {
    const { route, room, userId, limit } = req.query
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
    const conn = app.registry.get(req.params.id)
    if (conn === undefined) return await reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no such connection' })
    conn.endedBy = 'admin'
    req.log.info({ connId: conn.id, code: req.query.code }, 'connection closed by an administrator')
    conn.socket.close(req.query.code, req.query.reason)
    return await reply.code(204).send()
  })
}
