import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { redactToken } from '../src/auth/jwt.js'

// probes and scrapes arrive every few seconds from machines: at info they would drown the lines people read
const QUIET = new Set(['/health', '/ready', '/metrics'])

/** The one log line of an HTTP request; a WebSocket upgrade writes its own (status 101) when it opens. */
export function requestLine (req: FastifyRequest, status: number, ms?: number) {
  return { method: req.method, path: redactToken(req.url), status, ms }
}

/**
 * One info line per HTTP request, at its end (method, path with the token redacted, status, ms, reqId),
 * instead of Fastify's two (set `logController: new LogController({ disableRequestLogging: true })` on the server). /health, /ready and /metrics
 * are logged at debug. For the service's root: a host keeps its own request logging.
 */
async function requestLogPlugin (app: FastifyInstance) {
  app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const line = requestLine(req, reply.statusCode, Math.round(reply.elapsedTime * 10) / 10)
    if (QUIET.has(req.url.split('?')[0] ?? '')) req.log.debug(line, 'request')
    else req.log.info(line, 'request')
    done()
  })
}

export default fp(requestLogPlugin, { name: 'request-log' })
