import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ExpiryTimer } from '../src/auth/expiry.js'
import { TokenVerifier, roomAllowed, tokenOf, verificationKey, type Identity } from '../src/auth/jwt.js'
import type { Connection, Slot } from '../src/registry/registry.js'

declare module 'fastify' {
  interface FastifyInstance { auth: Auth }
  interface FastifyRequest {
    /** who the upgrade's token says is connecting (AUTH_MODE=jwt), else null */
    identity: Identity | null
    /** the cap slot this upgrade holds until its socket is registered or the request ends */
    connSlot: Slot | null
    /** why a WebSocket upgrade was refused, for metrics (set by the guards that refuse) */
    refusal: string | null
  }
}

/** the warning `{"type":"expiring"}` goes out this long before a token's exp (at once when less is left) */
export const EXPIRY_WARNING_MS = 30_000
const TEXT = { binary: false }

/** What the routes need of authentication: the identity rules, expiry on open sockets, and refresh. */
export class Auth {
  constructor (readonly verifier: TokenVerifier | null) {}

  get mode (): 'none' | 'jwt' {
    return this.verifier === null ? 'none' : 'jwt'
  }

  /**
   * Verifies the request's token (Bearer header, else `?token=`) and sets `req.identity`; answers 401 with
   * the reason when it fails. True when the request may go on. Only with AUTH_MODE=jwt.
   */
  async identify (verifier: TokenVerifier, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const result = await verifier.verify(tokenOf(req.headers.authorization, req.query))
    if (result.ok) {
      req.identity = result.identity
      return true
    }
    req.refusal = 'unauthorized'
    req.log.info({ reason: result.reason }, `${req.ws ? 'upgrade' : 'request'} refused: unauthorized`)
    reply.code(401).header('www-authenticate', 'Bearer').send({ statusCode: 401, error: 'Unauthorized', message: result.reason })
    return false
  }

  /** The `rooms` claim of the request's identity (none: every room); answers 403 when it does not allow `room`. */
  allowRoom (req: FastifyRequest, reply: FastifyReply, room: string): boolean {
    if (req.identity === null || roomAllowed(req.identity.rooms, room)) return true
    req.refusal = 'room_forbidden'
    req.log.info({ room, userId: req.identity.userId }, `${req.ws ? 'upgrade' : 'request'} refused: room not in token`)
    reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: `this token does not allow room ${room}` })
    return false
  }

  /**
   * Closes `conn` with 1008 when its token expires; with `warn`, sends `{"type":"expiring","in"}` first
   * (not on echo, whose every frame is an echo). Stopped by the registry when the socket closes.
   */
  watch (conn: Connection, identity: Identity | null, warn: boolean): void {
    if (identity === null) return
    conn.expiry = new ExpiryTimer(identity.expiresAt, EXPIRY_WARNING_MS, {
      warn: (inMs) => { if (warn) conn.send(JSON.stringify({ type: 'expiring', in: inMs }), TEXT) },
      expire: () => {
        conn.endedBy = 'token expired'
        conn.socket.close(1008, 'token expired')
      }
    })
  }

  /**
   * `{"type":"refresh","token"}` on an open socket: a valid token for the same user (still allowed into
   * the socket's room) moves its expiry; anything else leaves the old expiry standing. Never rejects.
   */
  async refresh (conn: Connection, token: unknown): Promise<Record<string, unknown>> {
    if (this.verifier === null || conn.expiry === undefined) return unauthorized('authentication is off: nothing to refresh')
    if (typeof token !== 'string') return unauthorized('refresh needs "token"')
    const result = await this.verifier.verify(token)
    if (!result.ok) return unauthorized(result.reason)
    if (result.identity.userId !== conn.userId) return unauthorized('token is for another user')
    if (conn.room !== undefined && !roomAllowed(result.identity.rooms, conn.room)) return unauthorized(`token does not allow room ${conn.room}`)
    if (conn.socket.readyState !== 1) return unauthorized('socket is closing')
    conn.expiry.set(result.identity.expiresAt)
    return { type: 'refreshed', exp: Math.floor(result.identity.expiresAt / 1000) }
  }
}

function unauthorized (message: string): Record<string, unknown> {
  return { type: 'error', code: 'unauthorized', message }
}

/**
 * Authentication and per-client caps, before the upgrade: with AUTH_MODE=jwt a WebSocket route needs a
 * valid token (401 with the reason), and every mode caps sockets per address and per user (429). A plain
 * GET of a WebSocket URL gets the same answers, so a browser (which only sees 1006) can learn why.
 */
async function authPlugin (app: FastifyInstance) {
  const { config, registry } = app
  const key = verificationKey(config)
  const auth = new Auth(key === null ? null : new TokenVerifier(key, config))
  const caps = { perIp: config.MAX_CONNECTIONS_PER_IP, perUser: config.MAX_CONNECTIONS_PER_USER }
  app.decorate('auth', auth)
  app.decorateRequest('identity', null)
  app.decorateRequest('connSlot', null)
  app.decorateRequest('refusal', null)

  // after the upgrade guard's onRequest (404/405/503/403 origin), before schemas and handlers
  // Callback-style hooks: with AUTH_MODE=none nothing here is asynchronous, and an upgrade does not pay
  // for a promise per hook (measured: ~8% of a handshake's CPU with async hooks).
  // Runs after the upgrade guard's onRequest (404/405/503/403 origin), before schemas and handlers.
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (req.routeOptions.config?.websocket !== true) { done(); return }
    const { verifier } = auth
    if (verifier === null) {
      if (admit(req, reply)) done()
      return
    }
    auth.identify(verifier, req, reply).then((ok) => {
      if (ok && admit(req, reply)) done()
    }, done)
  })

  /** The caps; false when the request was answered 429. */
  function admit (req: FastifyRequest, reply: FastifyReply): boolean {
    const userId = req.identity?.userId
    // a plain GET only asks; an upgrade holds its slot from here, so a burst cannot overshoot the cap
    const slot = req.ws ? registry.claim(req.ip, userId, caps) : registry.overCap(req.ip, userId, caps) ?? null
    if (slot === 'ip' || slot === 'user') {
      req.refusal = slot === 'ip' ? 'per_ip_cap' : 'per_user_cap'
      req.log.warn({ cap: slot, userId }, 'upgrade refused: too many connections')
      const message = slot === 'ip' ? `too many connections from this address (at most ${caps.perIp})` : `too many connections for this user (at most ${caps.perUser})`
      reply.code(429).send({ statusCode: 429, error: 'Too Many Requests', message })
      return false
    }
    if (slot === null) return true
    req.connSlot = slot
    // an upgrade refused by a later check gives the slot back in onResponse; one whose TCP socket goes
    // before the handler runs, when that socket closes; one that is registered hands it to its registry
    // entry (which drops this listener). release() counts a slot back once, whichever comes first
    const tcp = req.raw.socket as Socket | undefined // injectWS requests have none
    if (tcp !== undefined) {
      slot.onAbandon = () => registry.release(slot)
      tcp.on('close', slot.onAbandon)
    }
    return true
  }
  app.addHook('onResponse', (req, _reply, done) => {
    if (req.connSlot !== null) registry.release(req.connSlot)
    done()
  })
}

export default fp(authPlugin, { name: 'auth', dependencies: ['config', 'registry', 'upgrade-guard'] })
