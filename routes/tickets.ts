import type { FastifyInstance } from 'fastify'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { bearerToken } from '../src/auth/bearer.js'
import { refuse } from '../plugins/limits.js'

const Issued = Type.Object({ ticket: Type.String(), expiresIn: Type.Integer() })
const ErrorReply = Type.Object({ statusCode: Type.Integer(), error: Type.String(), message: Type.String() })
const UNAUTHORIZED = { 'www-authenticate': 'Bearer' }

/**
 * POST /tickets: a token in the Authorization header (where no log or history keeps it) is traded for a
 * ticket that opens one socket (`?ticket=`) within TICKET_TTL_MS, on any instance. With AUTH_MODE=none there
 * is nothing to trade: 404.
 */
export default async function ticketRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const perUser = app.realtimeConfig.MAX_TICKETS_PER_USER
  const errors = { 401: ErrorReply, 404: ErrorReply, 429: ErrorReply, 503: ErrorReply }
  app.post('/tickets', { schema: { response: { 201: Issued, ...errors } } }, async (req, reply) => {
    const { verifier, tickets } = app.auth
    if (verifier === null || tickets === null) return refuse(req, reply, 'not_found', 'authentication is off: connect without a ticket')
    // the header only: a token in this URL would be the leak tickets exist to avoid
    const token = bearerToken(req.headers.authorization)
    if (token === undefined) return refuse(req, reply, 'unauthorized', 'a ticket needs Authorization: Bearer <token>', UNAUTHORIZED)
    const result = await verifier.verify(token)
    if (!result.ok) {
      req.log.info({ reason: result.reason }, 'ticket refused: unauthorized')
      return refuse(req, reply, 'unauthorized', result.reason, UNAUTHORIZED)
    }
    const issued = await tickets.issue(result.identity)
    if (!issued.ok) {
      req.log.warn({ userId: result.identity.userId, reason: issued.reason }, 'ticket refused: too many outstanding')
      return issued.reason === 'per_user'
        ? refuse(req, reply, 'per_user_cap', `too many unused tickets for this user (at most ${perUser})`)
        : refuse(req, reply, 'capacity', 'too many unused tickets, try again shortly')
    }
    reply.code(201).header('cache-control', 'no-store')
    return { ticket: issued.ticket, expiresIn: issued.expiresIn }
  })
}
