import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import fp from 'fastify-plugin'

// ws's own RFC 7230 parser for extension offers (ws runs it only when permessage-deflate is on, so a
// malformed header would otherwise pass); not in ws's exports map, so loaded beside its entry point
const require = createRequire(import.meta.url)
const { parse: parseExtensions } = require(join(dirname(require.resolve('ws')), 'lib/extension.js')) as { parse: (header: string) => unknown }
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

declare module 'fastify' {
  interface FastifyContextConfig { websocket?: boolean }
}

/**
 * Every refusal of an upgrade is an HTTP status before the 101, never a 101 and a close:
 * 404 for paths with no WebSocket route, 503 while shutting down or full, 403 for a foreign Origin.
 * Route params and query are then checked by each route's schema (400).
 */
async function upgradeGuardPlugin (app: FastifyInstance) {
  const { config, registry, lifecycle } = app
  const allowAny = config.ALLOWED_ORIGINS.includes('*')
  const allowed = new Set(config.ALLOWED_ORIGINS)

  // mark WebSocket routes so the hook below can tell an upgrade to a plain HTTP route
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, websocket: route.websocket === true }
  })

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.ws) return
    if (req.method !== 'GET') {
      return await reply.code(405).header('allow', 'GET').send({ statusCode: 405, error: 'Method Not Allowed', message: 'a WebSocket upgrade must be a GET' })
    }
    const extensions = req.headers['sec-websocket-extensions']
    if (extensions !== undefined && !validExtensions(extensions)) {
      return await reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'invalid Sec-WebSocket-Extensions header' })
    }
    if (req.routeOptions.config?.websocket !== true) {
      return await reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no WebSocket endpoint at ${req.url.split('?')[0]}` })
    }
    if (lifecycle.draining) {
      return await reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'server shutting down' })
    }
    const origin = req.headers.origin
    if (origin !== undefined && !allowAny && !allowed.has(origin) && !sameHost(origin, req.host)) {
      req.log.info({ origin }, 'upgrade refused: origin not allowed')
      return await reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'origin not allowed' })
    }
    if (registry.size >= config.MAX_CONNECTIONS) {
      req.log.warn({ open: registry.size }, 'upgrade refused: at MAX_CONNECTIONS')
      return await reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: 'server at connection capacity' })
    }
  })
}

function validExtensions (header: string): boolean {
  try {
    parseExtensions(header)
    return true
  } catch {
    return false
  }
}

/** A browser's page on the same host as the request (the Host header, or X-Forwarded-Host behind a trusted proxy). */
function sameHost (origin: string, host: string | undefined): boolean {
  if (host === undefined) return false
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase()
  } catch {
    return false
  }
}

export default fp(upgradeGuardPlugin, { name: 'upgrade-guard', dependencies: ['config', 'registry', 'lifecycle'] })
