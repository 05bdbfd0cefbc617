// Connection tickets: a browser cannot set headers on a WebSocket upgrade, and a JWT in the URL ends up in
// proxies' logs, browser history and Referer headers for as long as it lives. So the page trades its token
// (in an Authorization header, over POST /tickets) for a ticket that opens ONE socket within seconds.
// Two stores with one contract: in memory (one instance) and in Redis (any instance may take the upgrade).
import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import { UnavailableError } from '../hub/errors.js'
import type { Identity } from './jwt.js'

/** 32 random bytes, base64url: 43 characters of [A-Za-z0-9_-] */
export const TICKET_PATTERN = /^[A-Za-z0-9_-]{43}$/

/**
 * The ticket of a request: `?ticket=` unless an `Authorization` header is given (which wins, as for tokens).
 * A repeated or empty `?ticket=` is a malformed ticket (''), not a fall back to `?token=`.
 */
export function ticketOf (authorization: string | undefined, query: unknown): string | undefined {
  if (authorization !== undefined) return undefined
  const ticket = (query as { ticket?: unknown } | null)?.ticket
  if (ticket === undefined) return undefined
  return typeof ticket === 'string' ? ticket : ''
}

export function newTicket (): string {
  return randomBytes(32).toString('base64url')
}

/** What issuing a ticket gave: the ticket and how long it is good for, or why none was issued. */
export type Issued =
  | { ok: true, ticket: string, expiresIn: number }
  | { ok: false, reason: 'per_user' | 'full' }

export interface TicketStore {
  /** A ticket for `identity`, good for one use within the TTL (and never past the token's exp). */
  issue (identity: Identity): Promise<Issued>
  /** The identity of a ticket, once: a used, expired, unknown or malformed ticket gives undefined. */
  redeem (ticket: string): Promise<Identity | undefined>
  close (): Promise<void>
}

/** A ticket's lifetime: the TTL, cut short by the token's own expiry. */
function lifetime (ttlMs: number, identity: Identity, now: number): number {
  return Math.min(ttlMs, identity.expiresAt - now)
}

interface Held { identity: Identity, expiresAt: number }

export interface MemoryTicketsOptions {
  ttlMs: number
  /** outstanding tickets per user (`sub`) */
  perUser: number
  /** outstanding tickets on this instance */
  max: number
  now?: () => number
}

/**
 * One instance's tickets in a Map, bounded twice: per user and in all. Expired ones are swept every TTL by
 * one unref'd timer (a redeem also refuses them, so the sweep only frees memory).
 */
export class MemoryTickets implements TicketStore {
  readonly #held = new Map<string, Held>()
  readonly #perUser = new Map<string, number>()
  readonly #opts: MemoryTicketsOptions
  readonly #now: () => number
  readonly #sweeper: ReturnType<typeof setInterval>

  constructor (opts: MemoryTicketsOptions) {
    this.#opts = opts
    this.#now = opts.now ?? Date.now
    this.#sweeper = setInterval(() => this.sweep(), opts.ttlMs)
    this.#sweeper.unref()
  }

  get size (): number {
    return this.#held.size
  }

  async issue (identity: Identity): Promise<Issued> {
    const { userId } = identity
    const count = this.#perUser.get(userId) ?? 0
    if (count >= this.#opts.perUser) return { ok: false, reason: 'per_user' }
    if (this.#held.size >= this.#opts.max) return { ok: false, reason: 'full' }
    const now = this.#now()
    const expiresIn = lifetime(this.#opts.ttlMs, identity, now)
    const ticket = newTicket()
    this.#held.set(ticket, { identity, expiresAt: now + expiresIn })
    this.#perUser.set(userId, count + 1)
    return { ok: true, ticket, expiresIn }
  }

  async redeem (ticket: string): Promise<Identity | undefined> {
    const held = this.#held.get(ticket)
    if (held === undefined) return undefined
    this.#drop(ticket, held)
    return held.expiresAt > this.#now() ? held.identity : undefined
  }

  /** Forgets every expired ticket. */
  sweep (): void {
    const now = this.#now()
    for (const [ticket, held] of this.#held) if (held.expiresAt <= now) this.#drop(ticket, held)
  }

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    this.#held.clear()
    this.#perUser.clear()
  }

  #drop (ticket: string, held: Held): void {
    this.#held.delete(ticket)
    const left = (this.#perUser.get(held.identity.userId) ?? 1) - 1
    if (left <= 0) this.#perUser.delete(held.identity.userId)
    else this.#perUser.set(held.identity.userId, left)
  }
}

/**
 * Tickets in Redis, so a ticket issued by one instance opens a socket on any: `SET key NX PX ttl` to issue,
 * `GETDEL` to redeem, so two instances racing on one ticket cannot both get it. Redis expires them itself
 * (PX), which bounds the keys by the issue rate times the TTL.
 */
export class RedisTickets implements TicketStore {
  constructor (readonly redis: Redis, readonly prefix: string, readonly ttlMs: number, readonly now: () => number = Date.now) {}

  key (ticket: string): string {
    return `${this.prefix}ticket:${ticket}`
  }

  async issue (identity: Identity): Promise<Issued> {
    const expiresIn = lifetime(this.ttlMs, identity, this.now())
    const ticket = newTicket()
    // NX: a collision of 256 random bits is not going to happen, but it must never hand out someone else's ticket
    const set = await this.#call(async () => await this.redis.set(this.key(ticket), JSON.stringify(identity), 'PX', expiresIn, 'NX'))
    if (set !== 'OK') throw new Error('ticket collision')
    return { ok: true, ticket, expiresIn }
  }

  async redeem (ticket: string): Promise<Identity | undefined> {
    const value = await this.#call(async () => await this.redis.getdel(this.key(ticket)))
    if (value === null) return undefined
    const identity = JSON.parse(value) as Identity
    // PX has millisecond precision, but the socket's expiry is the token's: never open one past it
    return identity.expiresAt > this.now() ? identity : undefined
  }

  async close (): Promise<void> {
    this.redis.disconnect()
  }

  /** Redis down: UnavailableError (503), not a 401 that would tell the client its ticket is bad. */
  async #call<T> (fn: () => Promise<T>): Promise<T> {
    if (this.redis.status !== 'ready') throw new UnavailableError(`redis is ${this.redis.status}`)
    try {
      return await fn()
    } catch (err) {
      throw new UnavailableError(`redis: ${(err as Error).message}`)
    }
  }
}
