import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ExpiryTimer } from '../src/auth/expiry.js'
import { TokenVerifier, roomAllowed, tokenOf, verificationKey, type Identity, type Verified } from '../src/auth/jwt.js'
import { MemoryTickets, RedisTickets, TICKET_PATTERN, ticketOf, type TicketStore } from '../src/auth/tickets.js'
import type { Config } from '../src/config/schema.js'
import { UnavailableError } from '../src/hub/errors.js'
import { CLOSE, CLOSE_REASON } from '../src/protocol/codes.js'
import { OPEN, TEXT, type Connection } from '../src/registry/connection.js'
import { refuse } from './limits.js'

declare module 'fastify' {
  interface FastifyInstance { auth: Auth }
  interface FastifyRequest {
    /** who the upgrade's token says is connecting (AUTH_MODE=jwt), else null */
    identity: Identity | null
  }
}

/** the warning `{"type":"expiring"}` goes out this long before a token's exp (at once when less is left) */
export const EXPIRY_WARNING_MS = 30_000

/** What the routes need of authentication: the identity rules, expiry on open sockets, and refresh. */
export class Auth {
  /** `tickets`: where connection tickets live (POST /tickets); null with AUTH_MODE=none */
  constructor (readonly verifier: TokenVerifier | null, readonly tickets: TicketStore | null = null) {}

  get mode (): 'none' | 'jwt' {
    return this.verifier === null ? 'none' : 'jwt'
  }

  /**
   * Identifies the request by its Bearer header, else its `?ticket=` (used up here, whatever follows), else
   * its `?token=`, and sets `req.identity`; answers 401 with the reason when that fails (503 when the ticket
   * store is unreachable). True when the request may go on. Only with AUTH_MODE=jwt.
   */
  async identify (verifier: TokenVerifier, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const ticket = ticketOf(req.headers.authorization, req.query)
    let result: Verified
    try {
      result = ticket !== undefined ? await this.redeem(ticket) : await verifier.verify(tokenOf(req.headers.authorization, req.query))
    } catch (err) {
      if (!(err instanceof UnavailableError)) throw err
      req.log.warn({ err: { message: err.message } }, 'upgrade refused: ticket store unavailable')
      refuse(req, reply, 'unavailable', 'tickets unavailable, try again')
      return false
    }
    if (result.ok) {
      req.identity = result.identity
      return true
    }
    req.log.info({ reason: result.reason }, `${req.ws ? 'upgrade' : 'request'} refused: unauthorized`)
    refuse(req, reply, 'unauthorized', result.reason, { 'www-authenticate': 'Bearer' })
    return false
  }

  /** The identity a ticket was issued for, once. */
  async redeem (ticket: string): Promise<Verified> {
    if (this.tickets === null || !TICKET_PATTERN.test(ticket)) return { ok: false, reason: 'malformed ticket' }
    const identity = await this.tickets.redeem(ticket)
    return identity === undefined ? { ok: false, reason: 'ticket unknown, already used or expired' } : { ok: true, identity }
  }

  /** The `rooms` claim of the request's identity (none: every room); answers 403 when it does not allow `room`. */
  allowRoom (req: FastifyRequest, reply: FastifyReply, room: string): boolean {
    if (req.identity === null || roomAllowed(req.identity.rooms, room)) return true
    req.log.info({ room, userId: req.identity.userId }, `${req.ws ? 'upgrade' : 'request'} refused: room not in token`)
    refuse(req, reply, 'room_forbidden', `this token does not allow room ${room}`)
    return false
  }

  /**
   * Closes `conn` with 4002 when its token expires; with `warn`, sends `{"type":"expiring","in"}` first
   * (not on echo, whose every frame is an echo). Stopped by the registry when the socket closes.
   */
  watch (conn: Connection, identity: Identity | null, warn: boolean): void {
    if (identity === null) return
    conn.expiry = new ExpiryTimer(identity.expiresAt, EXPIRY_WARNING_MS, {
      warn: (inMs) => { if (warn) conn.send(JSON.stringify({ type: 'expiring', in: inMs }), TEXT) },
      expire: () => {
        conn.endedBy = 'token expired'
        conn.socket.close(CLOSE.TOKEN_EXPIRED, CLOSE_REASON[CLOSE.TOKEN_EXPIRED])
      }
    })
  }

  /**
   * `{"type":"refresh","token"}` on an open socket: a valid token for the same user moves its expiry, and its
   * rooms claim becomes the socket's (`adopt`); anything else leaves the old expiry standing. Never rejects.
   */
  async refresh (conn: Connection, token: unknown, adopt?: (identity: Identity) => void): Promise<Record<string, unknown>> {
    if (this.verifier === null || conn.expiry === undefined) return unauthorized('authentication is off: nothing to refresh')
    if (typeof token !== 'string') return unauthorized('refresh needs "token"')
    const result = await this.verifier.verify(token)
    if (!result.ok) return unauthorized(result.reason)
    if (result.identity.userId !== conn.userId) return unauthorized('token is for another user')
    if (conn.socket.readyState !== OPEN) return unauthorized('socket is closing')
    conn.expiry.set(result.identity.expiresAt)
    // the new rooms claim governs the hub's subscriptions from now on (the hub leaves the rooms it no longer allows)
    adopt?.(result.identity)
    return { type: 'refreshed', exp: Math.floor(result.identity.expiresAt / 1000) }
  }
}

function unauthorized (message: string): Record<string, unknown> {
  return { type: 'error', code: 'unauthorized', message }
}

/**
 * Authentication before the upgrade: with AUTH_MODE=jwt a WebSocket route needs a valid token (401 with
 * the reason). A plain GET of a WebSocket URL gets the same answer, so a browser (which only sees 1006)
 * can learn why. The caps (plugins/limits) are checked after this has identified the user.
 */
async function authPlugin (app: FastifyInstance) {
  const { realtimeConfig: config } = app
  const key = verificationKey(config)
  const auth = key === null ? new Auth(null) : new Auth(new TokenVerifier(key, config), await ticketStore(app))
  app.decorate('auth', auth)
  app.addHook('onClose', async () => await auth.tickets?.close())
  app.decorateRequest('identity', null)

  // Runs after the upgrade guard's and the limits' onRequest (405/400/404/503/403 origin/503 capacity),
  // before schemas and handlers. Callback-style: with AUTH_MODE=none nothing here is asynchronous, and
  // an upgrade does not pay for a promise per hook.
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    const { verifier } = auth
    if (verifier === null || req.routeOptions.config?.websocket !== true) { done(); return }
    auth.identify(verifier, req, reply).then((ok) => { if (ok) done() }, done)
  })
}

/**
 * Tickets shared by every instance through Redis (REDIS_URL) on a connection of their own (the hub's are the
 * hub store's), else in this instance's memory, bounded per user and by MAX_CONNECTIONS in all.
 */
async function ticketStore (app: FastifyInstance): Promise<TicketStore> {
  const config: Config = app.realtimeConfig
  if (config.REDIS_URL === undefined) {
    return new MemoryTickets({ ttlMs: config.TICKET_TTL_MS, perUser: config.MAX_TICKETS_PER_USER, max: config.MAX_CONNECTIONS })
  }
  // loaded only when used, as the hub's (plugins/hub): ioredis is heap an instance without Redis would carry
  const [{ Redis }, { CLIENT_OPTIONS }] = await Promise.all([import('ioredis'), import('../src/hub/redis/client.js')])
  const redis = new Redis(config.REDIS_URL, CLIENT_OPTIONS)
  let lastError = ''
  redis.on('error', (err: Error) => {
    // ioredis retries by itself; log each distinct failure once (the hub's connections report the outage too)
    if (err.message !== lastError) app.log.warn({ err: { message: err.message } }, 'redis error (tickets)')
    lastError = err.message
  })
  // a Redis that is down does not stop the boot: tickets answer 503 until it is reachable
  await redis.connect().catch(() => {})
  return new RedisTickets(redis, config.REDIS_PREFIX, config.TICKET_TTL_MS)
}

export default fp(authPlugin, { name: 'auth', dependencies: ['realtime-config', 'limits'] })
