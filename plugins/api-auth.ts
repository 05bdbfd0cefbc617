import { createHash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { bearerToken } from '../src/auth/bearer.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler for backend endpoints (publish, admin): Bearer API_TOKEN, 403 when no token is configured */
    requireApiToken: (req: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** whether the request carries the configured API_TOKEN (false when none is configured) */
    hasApiToken: (req: FastifyRequest) => boolean
    /** a preHandler for an optional bearer token (e.g. METRICS_TOKEN): open when the token is unset */
    bearerGuard: (token: string | undefined, what: string) => (req: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

/**
 * true when the request carries `Authorization: Bearer <expected>` (the scheme in any case); hashing both
 * sides makes the compare constant-time
 */
function bearerMatches (req: FastifyRequest, expected: Buffer): boolean {
  return timingSafeEqual(digest(bearerToken(req.headers.authorization) ?? ''), expected)
}

async function apiAuthPlugin (app: FastifyInstance) {
  const token = app.realtimeConfig.API_TOKEN
  const expected = token === undefined ? undefined : digest(token)

  app.decorate('requireApiToken', async function requireApiToken (req: FastifyRequest, reply: FastifyReply) {
    if (expected === undefined) {
      return await reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'this endpoint is disabled: set API_TOKEN to enable it' })
    }
    if (!bearerMatches(req, expected)) {
      return await reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: 'missing or wrong bearer token' })
    }
  })

  app.decorate('hasApiToken', (req: FastifyRequest) => expected !== undefined && bearerMatches(req, expected))

  app.decorate('bearerGuard', (optional: string | undefined, what: string) => {
    const want = optional === undefined ? undefined : digest(optional)
    return async (req: FastifyRequest, reply: FastifyReply) => {
      if (want !== undefined && !bearerMatches(req, want)) {
        return await reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: `missing or wrong bearer token for ${what}` })
      }
    }
  })
}

export default fp(apiAuthPlugin, { name: 'api-auth', dependencies: ['realtime-config'] })
