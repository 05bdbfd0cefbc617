import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

// What the page needs and nothing more: its own scripts, styles and icon ('self'), and its sockets. Browsers
// differ on whether 'self' covers ws:/wss: (CSP3 says it does, older Safari does not), so connect-src also
// names the exact ws(s) origin of the request's host: tighter than a bare `ws: wss:`, which would allow a
// socket to any host. base-uri and form-action are not covered by default-src; frame-ancestors 'none' is
// what X-Frame-Options: DENY says to older browsers.
const DIRECTIVES = {
  defaultSrc: ["'self'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"]
}
const SELF_ONLY = ["'self'"]
// a Host (or trusted X-Forwarded-Host) fit to be a CSP source: a name or address and a port, nothing that could
// end the directive or add a source; anything else gets 'self' alone
const HOST_SOURCE = /^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i

/** connect-src for a request: 'self' and the ws(s) origin the page at this host opens its sockets on. */
export function connectSources (host: string | undefined, protocol: 'http' | 'https'): string[] {
  if (host === undefined || !HOST_SOURCE.test(host)) return SELF_ONLY
  return ["'self'", `${protocol === 'https' ? 'wss' : 'ws'}://${host}`]
}

/**
 * Security headers on every HTTP answer (pages, static files, JSON, 404s, errors): a CSP with no
 * 'unsafe-inline', nosniff, no-referrer, DENY framing. Not on WebSocket upgrades: ws writes the 101 itself
 * without them, and a refusal is read by a WebSocket client, never rendered; helmet costs ~30 µs a request.
 */
async function securityHeadersPlugin (app: FastifyInstance) {
  await app.register(helmet, {
    // applied by the hook below, so that an upgrade can skip it
    global: false,
    contentSecurityPolicy: { useDefaults: false, directives: { ...DIRECTIVES, connectSrc: SELF_ONLY } },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    // HSTS belongs to the TLS terminator (deploy/nginx.conf): this process speaks plain HTTP
    strictTransportSecurity: false
  })
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (!req.ws) {
      reply.helmet({
        contentSecurityPolicy: { useDefaults: false, directives: { ...DIRECTIVES, connectSrc: connectSources(req.host, req.protocol) } }
      })
    }
    done()
  })
}

export default fp(securityHeadersPlugin, { name: 'security-headers' })
