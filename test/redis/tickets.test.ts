// Tickets through a real redis-server: issued by one instance, used once on any, an outage is a 503.
import t from 'tap'
import WebSocket from 'ws'
import { connect, listen } from '../helper.js'
import { RedisServer, requireRedis } from './redis-server.js'
import { RedisTickets } from '../../src/auth/tickets.js'
import { mint } from '../../src/token.js'

const SECRET = 'redis-tickets-secret-0123456789abcdef'
const KEY = { alg: 'HS256' as const, key: new TextEncoder().encode(SECRET) }

async function ticket (http: string, sub: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const jwt = await mint(KEY, { sub, ttlSeconds: 3600 })
  const res = await fetch(`${http}/tickets`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

/** 101 or the refusal's status. */
async function upgrade (url: string): Promise<number> {
  const ws = new WebSocket(url)
  return await new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => { res.resume(); ws.terminate(); resolve(res.statusCode ?? 0) })
    ws.on('open', () => { ws.terminate(); resolve(101) })
    ws.on('error', reject)
  })
}

t.test('a ticket made on instance A opens one socket on instance B, once across both', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  const env = { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, REDIS_URL: redis.url, REDIS_PREFIX: 'tk:' }
  const a = await listen(t, env)
  const b = await listen(t, env)

  const made = await ticket(a.http, 'alice')
  t.equal(made.status, 201)
  const { frames } = await connect(t, `${b.ws}/ws/chat/lobby?ticket=${String(made.body.ticket)}`)
  t.match(await frames.next('welcome'), { userId: 'alice' }, 'B knows the user from A\'s ticket')
  t.equal(await upgrade(`${a.ws}/ws/echo?ticket=${String(made.body.ticket)}`), 401, 'used: refused on A')
  t.equal(await upgrade(`${b.ws}/ws/echo?ticket=${String(made.body.ticket)}`), 401, 'and on B')

  // both instances at once: GETDEL hands it to exactly one
  const raced = String((await ticket(a.http, 'bob')).body.ticket)
  const results = await Promise.all([upgrade(`${a.ws}/ws/echo?ticket=${raced}`), upgrade(`${b.ws}/ws/echo?ticket=${raced}`)])
  t.same(results.sort(), [101, 401], 'one upgrade wins the race')
})

t.test('Redis down: POST /tickets and ticket upgrades answer 503, not 401', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  const { app, http, ws } = await listen(t, { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, REDIS_URL: redis.url, REDIS_PREFIX: 'tk2:' })
  const held = String((await ticket(http, 'alice')).body.ticket)
  const client = (app.auth.tickets as RedisTickets).redis
  await redis.stop()
  // wait for the condition itself: the tickets' connection has seen Redis go
  while (client.status === 'ready') await new Promise((resolve) => client.once('close', resolve))
  const down = await ticket(http, 'alice')
  t.equal(down.status, 503)
  t.match(down.body, { statusCode: 503, error: 'Service Unavailable' })
  t.equal(await upgrade(`${ws}/ws/echo?ticket=${held}`), 503)
})
