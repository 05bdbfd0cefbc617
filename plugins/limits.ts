import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Caps, Slot, SlotCounts } from '../src/registry/caps.js'
import { Budgets } from '../src/limits/budgets.js'

/**
 * Every refusal of a WebSocket upgrade, by the name it is counted under in
 * rt_upgrade_refusals_total{reason}, with its HTTP status (the body's `error` is the status's name). Refusals are answered by refuse(), from
 * whichever plugin finds the reason; this table is the one list of them.
 */
export const REFUSALS = {
  bad_request: 400,
  unauthorized: 401,
  origin: 403,
  host: 403,
  room_forbidden: 403,
  not_found: 404,
  // named after its status since it was first counted; dashboards key on it
  http_405: 405,
  per_ip_cap: 429,
  upgrade_rate: 429,
  per_user_cap: 429,
  shutting_down: 503,
  capacity: 503,
  unavailable: 503,
  overloaded: 503
} as const

export type RefusalReason = keyof typeof REFUSALS
export const REFUSAL_REASONS = Object.keys(REFUSALS) as RefusalReason[]

declare module 'fastify' {
  interface FastifyInstance { limits: Limits }
  interface FastifyRequest {
    /** the cap slot this upgrade holds until its socket is registered or the request ends */
    connSlot: Slot | null
    /** why a WebSocket upgrade was refused, for metrics (set by refuse) */
    refusal: RefusalReason | null
  }
}

/**
 * Answers a refused request `{statusCode, error, message}` with the status of `reason`, and notes the
 * reason for metrics. Returns the reply (an async hook returns it; a callback hook does not call done).
 */
export function refuse (req: FastifyRequest, reply: FastifyReply, reason: RefusalReason, message: string, headers?: Record<string, string>): FastifyReply {
  const statusCode = REFUSALS[reason]
  const error = STATUS_CODES[statusCode] as string
  req.refusal = reason
  if (headers !== undefined) reply.headers(headers)
  return reply.code(statusCode).send({ statusCode, error, message })
}

/** The metrics name of an upgrade answered `status`: refuse()'s reason, else what the status says. */
export function refusalReason (req: FastifyRequest, status: number, draining: boolean): string {
  if (req.refusal !== null) return req.refusal
  // answers that do not come through refuse(): the routes' schema checks (400), and Fastify's own
  // 503 once close() has begun
  if (status === 400) return 'bad_request'
  if (status === 503) return draining ? 'shutting_down' : 'capacity'
  return `http_${status}`
}

/** The instance's connection caps and the counts they are checked against. */
export class Limits {
  constructor (
    readonly maxConnections: number,
    readonly caps: Caps,
    readonly slots: SlotCounts,
    /** upgrades per address group (UPGRADE_RATE_PER_SEC, UPGRADE_RATE_BURST) */
    readonly upgrades: Budgets
  ) {}

  /**
   * The key `ip` is counted under by every per-address limit: the IPv4 address, or its IPv6 prefix
   * (IPV6_PREFIX_BITS; src/limits/address.ts). The registry's counts are keyed the same way.
   */
  addressKey (ip: string): string {
    return this.slots.addressKey(ip)
  }

  /** Open sockets (and upgrades under way) counted against `ip`'s per-address cap. */
  countByAddress (ip: string): number {
    return this.slots.countByAddress(ip)
  }
}

/** The address a request counts under; app.injectWS's request has no socket, so no address, and counts as the registry names it. */
export function clientIp (req: FastifyRequest): string {
  return req.ip ?? 'unknown'
}

/**
 * The slot an upgrade claimed, handed to its registry entry: taken off the request, and its
 * abandon listener off the TCP socket (an idle socket keeps no closure for its upgrade).
 */
export function takeSlot (req: FastifyRequest, tcp: Socket | undefined): Slot | undefined {
  const slot = req.connSlot
  if (slot === null) return undefined
  req.connSlot = null
  if (slot.onAbandon !== undefined) {
    tcp?.removeListener('close', slot.onAbandon)
    slot.onAbandon = undefined
  }
  return slot
}

/**
 * Every connection cap, before the upgrade: MAX_CONNECTIONS for the instance (503), the upgrade rate
 * per address group (429 with Retry-After), then, once auth has identified the user,
 * MAX_CONNECTIONS_PER_IP and MAX_CONNECTIONS_PER_USER (429). A plain GET of a WebSocket URL gets the
 * same answers without spending anything (no slot, no upgrade token), so a browser (which only sees
 * 1006) can learn why its handshake failed without making the next one fail.
 * Callback-style hooks: nothing here is asynchronous, and an upgrade does not pay for a promise per hook.
 */
async function limitsPlugin (app: FastifyInstance) {
  const { realtimeConfig: config, registry } = app
  const caps = { perIp: config.MAX_CONNECTIONS_PER_IP, perUser: config.MAX_CONNECTIONS_PER_USER }
  const upgrades = new Budgets(config.UPGRADE_RATE_PER_SEC, config.UPGRADE_RATE_BURST, config.RATE_LIMIT_MAX_CLIENTS)
  const limits = new Limits(config.MAX_CONNECTIONS, caps, registry.slots, upgrades)
  app.decorate('limits', limits)
  app.decorateRequest('connSlot', null)
  app.decorateRequest('refusal', null)

  // after the upgrade guard's onRequest (405/400/404/503 draining/403 origin), before auth's (401)
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => {
    if (req.ws && registry.size >= limits.maxConnections) {
      req.log.warn({ open: registry.size }, 'upgrade refused: at MAX_CONNECTIONS')
      refuse(req, reply, 'capacity', 'server at connection capacity')
      return
    }
    if (req.routeOptions.config?.websocket === true && !withinRate(req, reply)) return
    done()
  })

  /**
   * UPGRADE_RATE_*: an upgrade takes a token of its address group's bucket; a plain GET only looks.
   * Checked before auth, so a client over its rate costs no token verification. False when answered 429.
   */
  function withinRate (req: FastifyRequest, reply: FastifyReply): boolean {
    const key = limits.addressKey(clientIp(req))
    const now = Date.now()
    if (req.ws ? upgrades.take(key, now) : upgrades.wait(key, now) === 0) return true
    // whole seconds until the next token, at least 1 (Retry-After has no fractions)
    const retryAfter = Math.max(1, Math.ceil(upgrades.wait(key, now) / 1000))
    req.log.warn({ retryAfter }, 'upgrade refused: upgrade rate')
    refuse(req, reply, 'upgrade_rate', `too many connection attempts from this address: retry in ${retryAfter} s`, { 'retry-after': String(retryAfter) })
    return false
  }

  // preParsing: after every onRequest hook (auth has set req.identity), before the routes' schemas
  // (400) and preHandlers (403 room)
  app.addHook('preParsing', (req: FastifyRequest, reply: FastifyReply, payload, done) => {
    if (req.routeOptions.config?.websocket !== true || admit(req, reply)) done(null, payload)
  })

  /** The per-client caps; false when the request was answered 429. */
  function admit (req: FastifyRequest, reply: FastifyReply): boolean {
    const userId = req.identity?.userId
    // a plain GET only asks; an upgrade holds its slot from here, so a burst cannot overshoot the cap
    const ip = clientIp(req)
    const slot = req.ws ? limits.slots.claim(ip, userId, caps) : limits.slots.overCap(ip, userId, caps) ?? null
    if (slot === 'ip' || slot === 'user') {
      req.log.warn({ cap: slot, userId }, 'upgrade refused: too many connections')
      if (slot === 'ip') refuse(req, reply, 'per_ip_cap', `too many connections from this address (at most ${caps.perIp})`)
      else refuse(req, reply, 'per_user_cap', `too many connections for this user (at most ${caps.perUser})`)
      return false
    }
    if (slot === null) return true
    req.connSlot = slot
    // an upgrade refused by a later check gives the slot back in onResponse; one whose TCP socket goes
    // before the handler runs, when that socket closes; one that is registered hands it to its registry
    // entry (takeSlot drops this listener). release() counts a slot back once, whichever comes first
    const tcp = req.raw.socket as Socket | undefined // injectWS requests have none
    if (tcp !== undefined) {
      slot.onAbandon = () => limits.slots.release(slot)
      tcp.on('close', slot.onAbandon)
    }
    return true
  }

  app.addHook('onResponse', (req, _reply, done) => {
    if (req.connSlot !== null) limits.slots.release(req.connSlot)
    done()
  })
}

export default fp(limitsPlugin, { name: 'limits', dependencies: ['realtime-config', 'registry', 'upgrade-guard'] })
