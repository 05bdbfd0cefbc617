// POST /tickets and `?ticket=` on the upgrade: one use, within TICKET_TTL_MS, with the token's identity.
import t from 'tap'
import WebSocket from 'ws'
import { build, captureLogs, connect, listen } from '../helper.js'
import { mint } from '../../src/token.js'
import { TICKET_PATTERN } from '../../src/auth/tickets.js'

const SECRET = 'tickets-test-secret-0123456789abcdef'
const KEY = { alg: 'HS256' as const, key: new TextEncoder().encode(SECRET) }
const JWT = { AUTH_MODE: 'jwt', JWT_SECRET: SECRET }

async function token (sub: string, extra: { name?: string, rooms?: string[], ttlSeconds?: number } = {}): Promise<string> {
  return await mint(KEY, { sub, ttlSeconds: extra.ttlSeconds ?? 3600, name: extra.name, rooms: extra.rooms })
}

/** POST /tickets over real HTTP with `bearer` (a header given as is with `raw`). */
async function ticketFor (http: string, bearer: string, raw = false): Promise<{ status: number, body: Record<string, unknown>, headers: Headers }> {
  const res = await fetch(`${http}/tickets`, { method: 'POST', headers: { authorization: raw ? bearer : `Bearer ${bearer}` } })
  return { status: res.status, body: await res.json() as Record<string, unknown>, headers: res.headers }
}

async function ticket (http: string, bearer: string): Promise<string> {
  const r = await ticketFor(http, bearer)
  if (r.status !== 201) throw new Error(`POST /tickets: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.ticket as string
}

/** The status and JSON body of a refused upgrade (rejects when it was accepted). */
async function refusal (url: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const ws = new WebSocket(url)
  return await new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (d) => { text += String(d) })
      res.on('end', () => { ws.terminate(); resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }) })
    })
    ws.on('open', () => { ws.terminate(); reject(new Error(`upgrade to ${url} was accepted`)) })
    ws.on('error', reject)
  })
}

const GONE = { statusCode: 401, error: 'Unauthorized', message: 'ticket unknown, already used or expired' }

t.test('201 {ticket, expiresIn}; the ticket opens one socket as the token\'s user', async (t) => {
  const { http, ws } = await listen(t, JWT)
  const r = await ticketFor(http, await token('alice', { name: 'Alice' }))
  t.equal(r.status, 201)
  t.same(Object.keys(r.body).sort(), ['expiresIn', 'ticket'])
  t.match(r.body.ticket, TICKET_PATTERN)
  t.equal(r.body.expiresIn, 30_000, 'TICKET_TTL_MS, in ms')
  t.equal(r.headers.get('cache-control'), 'no-store')
  const url = `${ws}/ws/chat/lobby?ticket=${String(r.body.ticket)}`
  const { frames } = await connect(t, url)
  t.match(await frames.next('welcome'), { userId: 'alice', name: 'Alice' })
  t.same(await refusal(url), { status: 401, body: GONE }, 'a second use')
})

t.test('a ticket used after TICKET_TTL_MS gets 401', async (t) => {
  const { http, ws } = await listen(t, { ...JWT, TICKET_TTL_MS: '150' })
  const r = await ticketFor(http, await token('alice'))
  const answered = Date.now() // the server's clock started the ticket's 150 ms before this
  t.equal(r.body.expiresIn, 150)
  // the condition is the clock passing the ticket's expiry: wait for exactly that
  await new Promise((resolve) => setTimeout(resolve, answered + 150 - Date.now() + 5))
  t.same(await refusal(`${ws}/ws/echo?ticket=${String(r.body.ticket)}`), { status: 401, body: GONE })
})

t.test('the ticket carries the token\'s exp and rooms: expiry warning, refresh, room rule', async (t) => {
  const { http, ws } = await listen(t, JWT)
  const short = await ticketFor(http, await token('bob', { ttlSeconds: 10 }))
  t.ok((short.body.expiresIn as number) <= 10_000 && (short.body.expiresIn as number) > 8000, 'a ticket never outlives its token')
  const { ws: sock, frames } = await connect(t, `${ws}/ws/time?interval=1000&ticket=${String(short.body.ticket)}`)
  const expiring = await frames.next('expiring')
  t.ok((expiring.in as number) <= 10_000, 'the socket expires at the token\'s exp')
  sock.send(JSON.stringify({ type: 'refresh', token: await token('bob') }))
  t.match(await frames.next('refreshed'), { type: 'refreshed' }, 'refresh works as with ?token=')

  const team = await ticket(http, await token('carol', { rooms: ['team-*'] }))
  t.match(await refusal(`${ws}/ws/chat/lobby?ticket=${team}`), { status: 403, body: { message: /does not allow room lobby/ } })
  const again = await ticket(http, await token('carol', { rooms: ['team-*'] }))
  const { frames: ok } = await connect(t, `${ws}/ws/chat/team-a?ticket=${again}`)
  t.match(await ok.next('welcome'), { userId: 'carol' })
})

t.test('POST /tickets refuses what an upgrade refuses: 401 with the reason', async (t) => {
  const { http } = await listen(t, JWT)
  const wrong = await mint({ alg: 'HS256', key: new TextEncoder().encode('another-secret-0123456789abcdef-xyz') }, { sub: 'alice', ttlSeconds: 60 })
  const bad = await ticketFor(http, wrong)
  t.same(bad.body, { statusCode: 401, error: 'Unauthorized', message: 'bad signature' })
  t.equal(bad.headers.get('www-authenticate'), 'Bearer')
  t.match((await ticketFor(http, 'Basic YWxpY2U6cHc=', true)).body, { statusCode: 401, message: /Authorization: Bearer/ }, 'another scheme')
  const inQuery = await fetch(`${http}/tickets?token=${await token('alice')}`, { method: 'POST' })
  t.equal(inQuery.status, 401, 'a token in the URL is not taken here')
  t.match(await refusal(`ws${http.slice(4)}/ws/echo?ticket=not-a-ticket`), { status: 401, body: { message: 'malformed ticket' } })
})

t.test('outstanding tickets are bounded per user (429), and a used one frees its place', async (t) => {
  const { http, ws } = await listen(t, { ...JWT, MAX_TICKETS_PER_USER: '2' })
  const jwt = await token('alice')
  const first = await ticket(http, jwt)
  await ticket(http, jwt)
  const over = await ticketFor(http, jwt)
  t.same(over.body, { statusCode: 429, error: 'Too Many Requests', message: 'too many unused tickets for this user (at most 2)' })
  t.equal((await ticketFor(http, await token('bob'))).status, 201, 'another user is not affected')
  await connect(t, `${ws}/ws/echo?ticket=${first}`)
  t.equal((await ticketFor(http, jwt)).status, 201)
})

t.test('AUTH_MODE=none: POST /tickets is 404, there is nothing to trade', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/tickets', headers: { authorization: 'Bearer x' } })
  t.equal(res.statusCode, 404)
  t.same(res.json(), { statusCode: 404, error: 'Not Found', message: 'authentication is off: connect without a ticket' })
})

t.test('a ticket in an upgrade URL is not logged', async (t) => {
  const { logger, lines } = captureLogs('debug')
  const { http, ws } = await listen(t, JWT, { loggerInstance: logger })
  const used = await ticket(http, await token('alice'))
  await connect(t, `${ws}/ws/echo?ticket=${used}`)
  await refusal(`${ws}/ws/echo?ticket=${used}`)
  const text = JSON.stringify(lines)
  t.match(text, /ticket=\[redacted\]/, 'the URL is logged, redacted')
  t.notOk(text.includes(used), 'the ticket is not')
})
