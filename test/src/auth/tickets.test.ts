// The in-memory ticket store on a fake clock: one use, expiry, the bounds, the sweep.
import t from 'tap'
import { MemoryTickets, TICKET_PATTERN, newTicket, ticketOf } from '../../../src/auth/tickets.js'
import type { Identity } from '../../../src/auth/jwt.js'

function store (opts: { ttlMs?: number, perUser?: number, max?: number } = {}) {
  const clock = { now: 1_000_000 }
  const tickets = new MemoryTickets({ ttlMs: opts.ttlMs ?? 30_000, perUser: opts.perUser ?? 3, max: opts.max ?? 100, now: () => clock.now })
  return { tickets, clock }
}

const who = (userId: string, expiresAt = 1_000_000 + 3_600_000): Identity => ({ userId, name: userId.toUpperCase(), rooms: ['lobby'], expiresAt })

async function issued (s: MemoryTickets, id: Identity): Promise<{ ticket: string, expiresIn: number }> {
  const r = await s.issue(id)
  if (!r.ok) throw new Error(`refused: ${r.reason}`)
  return r
}

t.test('a ticket carries its identity, once', async (t) => {
  const { tickets } = store()
  t.teardown(() => tickets.close())
  const { ticket, expiresIn } = await issued(tickets, who('alice'))
  t.match(ticket, TICKET_PATTERN, '32 bytes base64url')
  t.equal(expiresIn, 30_000)
  t.same(await tickets.redeem(ticket), who('alice'))
  t.equal(await tickets.redeem(ticket), undefined, 'a second use')
  t.equal(await tickets.redeem(newTicket()), undefined, 'an unknown ticket')
  t.equal(tickets.size, 0)
})

t.test('expiry: the TTL, or the token\'s exp when sooner', async (t) => {
  const { tickets, clock } = store({ ttlMs: 1000 })
  t.teardown(() => tickets.close())
  const late = await issued(tickets, who('alice'))
  clock.now += 1000
  t.equal(await tickets.redeem(late.ticket), undefined, 'at the TTL')
  const short = await issued(tickets, who('bob', clock.now + 300))
  t.equal(short.expiresIn, 300, 'never past the token')
  clock.now += 299
  t.ok(await tickets.redeem(short.ticket), 'just before')
})

t.test('bounded per user and in all; used and swept tickets free their place', async (t) => {
  const { tickets, clock } = store({ ttlMs: 1000, perUser: 2, max: 3 })
  t.teardown(() => tickets.close())
  const a1 = await issued(tickets, who('alice'))
  await issued(tickets, who('alice'))
  t.same(await tickets.issue(who('alice')), { ok: false, reason: 'per_user' })
  await issued(tickets, who('bob'))
  t.same(await tickets.issue(who('carol')), { ok: false, reason: 'full' })
  await tickets.redeem(a1.ticket)
  await issued(tickets, who('alice'))
  clock.now += 1000
  tickets.sweep()
  t.equal(tickets.size, 0, 'the sweep forgets expired tickets')
  await issued(tickets, who('alice'))
  await issued(tickets, who('alice'))
  t.equal(tickets.size, 2, 'and their users\' counts')
})

t.test('ticketOf: the query, unless a header is given', async (t) => {
  t.equal(ticketOf(undefined, { ticket: 'x' }), 'x')
  t.equal(ticketOf('Bearer abc', { ticket: 'x' }), undefined)
  t.equal(ticketOf(undefined, { ticket: ['a', 'b'] }), '', 'a repeated ticket is malformed')
  t.equal(ticketOf(undefined, { token: 'x' }), undefined)
})

t.test('TICKET_TTL_MS and MAX_TICKETS_PER_USER are validated settings with defaults', async (t) => {
  const { loadConfig } = await import('../../../src/config/load.js')
  t.match(loadConfig({}), { TICKET_TTL_MS: 30_000, MAX_TICKETS_PER_USER: 20 })
  t.throws(() => loadConfig({ TICKET_TTL_MS: '50' }), /invalid TICKET_TTL_MS="50"/)
  t.throws(() => loadConfig({ TICKET_TTL_MS: 'soon' }), /invalid TICKET_TTL_MS/)
  t.throws(() => loadConfig({ MAX_TICKETS_PER_USER: '0' }), /invalid MAX_TICKETS_PER_USER/)
})
