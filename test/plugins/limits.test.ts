// plugins/limits on a bare Fastify: the connection caps, the refusal answers and the slot bookkeeping,
// with real upgrades from real ws clients on loopback.
import { once } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'
import websocket from '@fastify/websocket'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import configPlugin from '../../plugins/config.js'
import registryPlugin from '../../plugins/registry.js'
import upgradeGuardPlugin from '../../plugins/upgrade-guard.js'
import limitsPlugin, { REFUSALS, REFUSAL_REASONS, refuse, refusalReason } from '../../plugins/limits.js'
import { SlotCounts } from '../../src/registry/caps.js'
import { TEXT } from '../../src/registry/connection.js'
import { testConfig } from '../helper.js'

/** The connection plugins alone, a user named by the x-user header, and one WebSocket route. */
async function bare (t: Test, overrides: Record<string, string>): Promise<{ app: FastifyInstance, url: string }> {
  const config = testConfig(overrides)
  const app = Fastify({ trustProxy: config.TRUST_PROXY })
  t.teardown(() => app.close())
  await app.register(configPlugin, { config })
  await app.register(websocket, { preClose: (done: () => void) => done() })
  await app.register(registryPlugin)
  await app.register(upgradeGuardPlugin)
  await app.register(limitsPlugin)
  // stands in for auth: an onRequest hook registered after limits identifies the user, and the
  // per-user cap (checked once every onRequest hook has run) sees it
  app.decorateRequest('identity', null)
  app.addHook('onRequest', async (req) => {
    const user = req.headers['x-user']
    if (typeof user === 'string') req.identity = { userId: user, name: undefined, rooms: undefined, expiresAt: Date.now() + 60_000 }
  })
  const route = app.registry.route('probe')
  app.get('/ws', { websocket: true, schema: { querystring: { type: 'object', properties: { n: { type: 'integer' } } } } }, (socket, req) => {
    const conn = app.registry.open(socket, req, { route })
    socket.on('message', () => conn.send('ok', TEXT))
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { app, url: `ws://127.0.0.1:${port}/ws` }
}

async function open (t: Test, url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, { headers })
  t.teardown(() => ws.terminate())
  await once(ws, 'open')
  return ws
}

/** The status and JSON body of a refused upgrade. */
async function refused (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: Record<string, unknown> }> {
  const { status, body } = await refusal(url, headers)
  return { status, body }
}

/** A refused upgrade: its status, JSON body and headers. */
async function refusal (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: Record<string, unknown>, headers: Record<string, unknown> }> {
  const ws = new WebSocket(url, { headers })
  return await new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => { text += String(chunk) })
      res.on('end', () => { ws.terminate(); resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers }) })
    })
    ws.on('open', () => { ws.terminate(); reject(new Error('upgrade accepted')) })
    ws.on('error', () => {})
  })
}

async function until (check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve))
}

t.test('per-address cap: counted per address, 429 past it, whole again when a socket closes', async (t) => {
  const { app, url } = await bare(t, { MAX_CONNECTIONS_PER_IP: '2' })
  const a = await open(t, url)
  await open(t, url)
  t.equal(app.limits.countByAddress('127.0.0.1'), 2)
  t.equal(app.limits.countByAddress('10.0.0.1'), 0, 'another address has its own count')
  t.same(await refused(url), { status: 429, body: { statusCode: 429, error: 'Too Many Requests', message: 'too many connections from this address (at most 2)' } })
  a.close()
  await until(() => app.limits.countByAddress('127.0.0.1') === 1)
  await open(t, url)
  t.equal(app.limits.countByAddress('127.0.0.1'), 2)
  t.equal(app.registry.countByRoute().probe, 2, 'the route is counted under its own name')
})

t.test('per-user cap: checked after the user is identified, counted per user', async (t) => {
  const { app, url } = await bare(t, { MAX_CONNECTIONS_PER_USER: '1' })
  await open(t, url, { 'x-user': 'ann' })
  t.same((await refused(url, { 'x-user': 'ann' })).body, { statusCode: 429, error: 'Too Many Requests', message: 'too many connections for this user (at most 1)' })
  await open(t, url, { 'x-user': 'bob' })
  await open(t, url)
  t.equal(app.registry.slots.countByUser('ann'), 1)
  t.equal(app.registry.slots.countByUser('bob'), 1)
  t.equal(app.limits.countByAddress('127.0.0.1'), 3)
})

t.test('MAX_CONNECTIONS: 503 at the instance cap', async (t) => {
  const { app, url } = await bare(t, { MAX_CONNECTIONS: '1' })
  await open(t, url)
  t.same(await refused(url), { status: 503, body: { statusCode: 503, error: 'Service Unavailable', message: 'server at connection capacity' } })
  t.equal(app.registry.size, 1)
})

t.test('a slot is released exactly once: refused after the claim, or handed to the entry', async (t) => {
  const { app, url } = await bare(t, { MAX_CONNECTIONS_PER_IP: '1' })
  // the claim happens before the schema check; the 400 gives it back
  t.equal((await refused(`${url}?n=x`)).status, 400)
  await until(() => app.limits.countByAddress('127.0.0.1') === 0)
  const ws = await open(t, url)
  t.equal(app.limits.countByAddress('127.0.0.1'), 1, 'the slot became the entry: counted once')
  t.equal((await refused(url)).status, 429)
  t.equal(app.limits.countByAddress('127.0.0.1'), 1, 'a refused claim counts nothing')
  const reply = once(ws, 'message')
  ws.send('x')
  await reply
  ws.close()
  await until(() => app.registry.size === 0)
  t.equal(app.limits.countByAddress('127.0.0.1'), 0, 'counted back once at close')

  const slots = new SlotCounts()
  const slot = slots.claim('1.1.1.1', 'u', { perIp: 2, perUser: 1 })
  if (typeof slot !== 'object') throw new Error('claim refused under the caps')
  t.equal(slots.claim('1.1.1.1', 'u', { perIp: 2, perUser: 1 }), 'user')
  slots.release(slot)
  slots.release(slot)
  t.equal(slots.countByAddress('1.1.1.1'), 0, 'a double release counts back once')
  t.equal(slots.overCap('1.1.1.1', 'u', { perIp: 2, perUser: 1 }), undefined)
})

t.test('per-address counts go through addressKey', async (t) => {
  const { app } = await bare(t, { IPV6_PREFIX_BITS: '48' })
  t.equal(app.limits.addressKey('2001:db8:1:2::1'), '2001:db8:1:0:0:0:0:0/48', 'IPV6_PREFIX_BITS is the grouping')
  t.equal(app.registry.slots.addressKey('2001:db8:1:3::1'), app.limits.addressKey('2001:db8:1:2::1'), 'the registry counts by the same key')
  const grouped = new SlotCounts((ip) => ip.split('.').slice(0, 3).join('.'))
  grouped.claim('10.0.0.1', undefined, { perIp: 2, perUser: 1 })
  t.equal(grouped.claim('10.0.0.2', undefined, { perIp: 1, perUser: 1 }), 'ip', 'addresses with one key share a count')
})

t.test('behind a trusted proxy, the per-address cap counts an IPv6 client by its /64', async (t) => {
  const { app, url } = await bare(t, { MAX_CONNECTIONS_PER_IP: '2', TRUST_PROXY: '127.0.0.1' })
  const from = (ip: string) => ({ 'x-forwarded-for': ip })
  await open(t, url, from('2001:db8::1'))
  await open(t, url, from('2001:db8::2'))
  t.equal(app.limits.countByAddress('2001:db8::ffff'), 2, 'two addresses of one /64, one count')
  t.same(await refused(url, from('2001:db8::3')), { status: 429, body: { statusCode: 429, error: 'Too Many Requests', message: 'too many connections from this address (at most 2)' } })
  t.equal((await refusal(url, from('2001:db8:0:0:abcd::9'))).status, 429, 'anywhere in the /64')
  await open(t, url, from('2001:db8:0:1::1'))
  await open(t, url, from('2001:db9::1'))
  t.equal(app.limits.countByAddress('2001:db8:0:1::2'), 1, 'another /64 has its own count')
  await open(t, url, from('10.0.0.1'))
  await open(t, url, from('10.0.0.2'))
  t.equal(app.limits.countByAddress('10.0.0.1'), 1, 'IPv4 addresses count on their own')
  await open(t, url, from('::ffff:10.0.0.1'))
  t.equal((await refusal(url, from('10.0.0.1'))).status, 429, 'a mapped address counts as the IPv4 one')
  t.equal(app.limits.countByAddress('127.0.0.1'), 0, 'the proxy itself is not the client')
})

t.test('upgrade rate: 429 with Retry-After past the burst, per address group; a GET only looks', async (t) => {
  const { app, url } = await bare(t, { UPGRADE_RATE_PER_SEC: '0.5', UPGRADE_RATE_BURST: '2', TRUST_PROXY: '127.0.0.1' })
  const from = (ip: string) => ({ 'x-forwarded-for': ip })
  const get = async (ip: string) => await fetch(url.replace('ws:', 'http:'), { headers: from(ip) })
  t.equal((await get('2001:db8::1')).status, 426, 'a GET under the rate gets the route\'s own answer')
  t.equal((await get('2001:db8::1')).status, 426, 'and spends nothing')
  await open(t, url, from('2001:db8::1'))
  await open(t, url, from('2001:db8::2'))
  const over = await refusal(url, from('2001:db8::3'))
  t.same(over.body, { statusCode: 429, error: 'Too Many Requests', message: 'too many connection attempts from this address: retry in 2 s' })
  t.equal(over.status, 429)
  t.equal(over.headers['retry-after'], '2', 'whole seconds until the next token at 0.5/s')
  const probe = await get('2001:db8::4')
  t.equal(probe.status, 429, 'a GET learns why the upgrade failed')
  t.equal(probe.headers.get('retry-after'), '2')
  t.match(await probe.json(), { message: /too many connection attempts/ })
  await open(t, url, from('2001:db8:0:1::1'))
  await open(t, url, from('10.0.0.1'))
  t.equal(app.registry.size, 4, 'other address groups have their own rate')
  t.ok(app.limits.upgrades.size <= 3, 'one bucket per address group')
})

t.test('refuse: one answer shape per reason, the reason kept for metrics', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorateRequest('refusal', null)
  app.get('/no', async (req, reply) => await refuse(req, reply, 'unauthorized', 'no token', { 'www-authenticate': 'Bearer' }))
  app.get('/reason', async (req) => ({ reason: refusalReason(req, 400, false), draining: refusalReason(req, 503, true), other: refusalReason(req, 418, false) }))
  const res = await app.inject('/no')
  t.equal(res.statusCode, 401)
  t.equal(res.headers['www-authenticate'], 'Bearer')
  t.same(res.json(), { statusCode: 401, error: 'Unauthorized', message: 'no token' })
  t.same((await app.inject('/reason')).json(), { reason: 'bad_request', draining: 'shutting_down', other: 'http_418' })
  t.same(REFUSAL_REASONS, Object.keys(REFUSALS))
  for (const reason of REFUSAL_REASONS) t.ok(REFUSALS[reason] >= 400, `${reason} is an HTTP error status`)
})
