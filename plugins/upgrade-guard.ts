import { STATUS_CODES } from 'node:http'
import fp from 'fastify-plugin'
import * as ws from 'ws'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hostAllowed, sameOrigin } from '../src/config/hosts.js'
import { refuse } from './limits.js'

declare module 'fastify' {
  interface FastifyContextConfig { websocket?: boolean }
}

// ws's own RFC 7230 parser for extension offers (ws runs it only when permessage-deflate is on, so a
// malformed header would otherwise pass). Public: the `extension` export (WebSocket.extension in
// CommonJS); @types/ws does not declare it.
const { parse: parseExtensions } = (ws as unknown as { extension: { parse: (header: string) => unknown } }).extension

/**
 * Every refusal of an upgrade is an HTTP status before the 101, never a 101 and a close:
 * 405 for a method other than GET, 400 for a malformed extension offer, 404 for paths with no
 * WebSocket route, 503 while shutting down, 403 for a foreign Origin. The caps follow (plugins/limits),
 * then route params and query are checked by each route's schema (400).
 * With ALLOWED_HOSTS, every request (upgrades and plain HTTP) whose Host is not listed gets 403 first.
 */
async function upgradeGuardPlugin (app: FastifyInstance) {
  const { realtimeConfig: config, registry } = app
  const allowAny = config.ALLOWED_ORIGINS.includes('*')
  const allowed = new Set(config.ALLOWED_ORIGINS)

  // DNS rebinding: a page on attacker.example re-pointed at this server sends `Host: attacker.example` with a
  // matching Origin, which the same-origin rule alone lets through. The probes (/health, /ready) are exempt:
  // load balancers and orchestrators often address them by IP.
  if (config.ALLOWED_HOSTS.length > 0) {
    const hosts = config.ALLOWED_HOSTS
    const probes = new Set([`${app.prefix}/health`, `${app.prefix}/ready`])
    app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
      const route = req.routeOptions.url
      if ((route !== undefined && probes.has(route)) || hostAllowed(req.host, hosts)) { done(); return }
      req.log.info({ host: req.host }, `${req.ws ? 'upgrade' : 'request'} refused: host not allowed`)
      refuse(req, reply, 'host', 'host not allowed')
    })
  }

  // a plain GET of a WebSocket-only path: 426 says what would work. It runs last, after the hooks and the route's
  // own checks, so a GET that the upgrade would have been refused for gets that refusal (auth's 401, a bad name's
  // 400): a browser learns over HTTP why its socket was refused, as the client module does after a failed handshake.
  function upgradeRequired (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) {
    if (req.ws) { done(); return }
    reply.code(426).headers({ upgrade: 'websocket', connection: 'Upgrade' })
      .send({ statusCode: 426, error: STATUS_CODES[426], message: `${req.url.split('?')[0]} is a WebSocket endpoint: send a WebSocket upgrade` })
  }

  // mark WebSocket routes so the hook below can tell an upgrade to a plain HTTP route, and end their route-level
  // preHandlers with the 426
  app.addHook('onRoute', (route) => {
    const websocket = route.websocket === true
    route.config = { ...route.config, websocket }
    if (!websocket) return
    const own = route.preHandler
    route.preHandler = own === undefined ? [upgradeRequired] : Array.isArray(own) ? [...own, upgradeRequired] : [own, upgradeRequired]
  })

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.ws) return
    if (req.method !== 'GET') {
      return await refuse(req, reply, 'http_405', 'a WebSocket upgrade must be a GET', { allow: 'GET' })
    }
    const extensions = req.headers['sec-websocket-extensions']
    if (extensions !== undefined && !validExtensions(extensions)) {
      return await refuse(req, reply, 'bad_request', 'invalid Sec-WebSocket-Extensions header')
    }
    if (req.routeOptions.config?.websocket !== true) {
      return await refuse(req, reply, 'not_found', `no WebSocket endpoint at ${req.url.split('?')[0]}`)
    }
    if (registry.draining) {
      return await refuse(req, reply, 'shutting_down', 'server shutting down')
    }
    const origin = req.headers.origin
    // the page's own origin is scheme, host and port: http://host is not https://host, nor an extension's host
    if (origin !== undefined && !allowAny && !allowed.has(origin) && !sameOrigin(origin, req.protocol, req.host)) {
      req.log.info({ origin }, 'upgrade refused: origin not allowed')
      return await refuse(req, reply, 'origin', 'origin not allowed')
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

export default fp(upgradeGuardPlugin, { name: 'upgrade-guard', dependencies: ['realtime-config', 'registry'] })
