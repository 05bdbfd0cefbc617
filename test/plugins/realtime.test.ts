// plugins/realtime: the plugin in a host of its own, under a prefix, touching nothing of the host but app.realtime.
import { once } from 'node:events'
import { STATUS_CODES } from 'node:http'
import t, { type Test } from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import websocket from '@fastify/websocket'
import realtime, { RealtimeError, websocketOptions, type RealtimeOptions } from '../../plugins/realtime.js'
import { ConfigError } from '../../src/config/load.js'
import { mint } from '../../src/token.js'
import { Frames, closed, connect, upgradeStatus } from '../helper.js'

declare module 'fastify' {
  interface FastifyInstance { config: { greeting: string } }
}

/** A host with its own config decorator, error handler and routes, the plugin under /rt; listening on loopback. */
async function host (t: Test, options: RealtimeOptions = {}): Promise<{ app: FastifyInstance, http: string, ws: string }> {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorate('config', { greeting: 'hello' })
  app.setErrorHandler((err: Error, _req, reply) => reply.code(418).send({ host: true, message: err.message }))
  app.get('/hello', async () => ({ greeting: app.config.greeting }))
  app.get('/boom', async () => { throw new Error('host error') })
  await app.register(realtime, { prefix: '/rt', maxEventLoopDelayMs: 0, ...options })
  app.post('/announce/:room', async (req) => await app.realtime.publish((req.params as { room: string }).room, { text: String(req.body), from: 'host' }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { app, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}` }
}

t.test('the host keeps its config decorator, its error handler, its 404 and its routes', async (t) => {
  const { app, http } = await host(t)
  t.same(await (await fetch(`${http}/hello`)).json(), { greeting: 'hello' })
  const boom = await fetch(`${http}/boom`)
  t.equal(boom.status, 418, 'the host\'s error handler, not the plugin\'s')
  t.same(await boom.json(), { host: true, message: 'host error' })
  const missing = await fetch(`${http}/nowhere`)
  t.equal(missing.status, 404)
  t.match(await missing.json(), { message: 'Route GET:/nowhere not found' }, 'Fastify\'s own 404 outside the prefix')
  t.notOk((await fetch(`${http}/hello`)).headers.has('content-security-policy'), 'no security headers on the host\'s routes')
  t.notOk(app.hasDecorator('registry') || app.hasDecorator('hub') || app.hasDecorator('realtimeConfig'), 'no internal decorator on the host')
  t.ok(app.hasDecorator('realtime'))
  t.equal((await fetch(`${http}/index.html`)).status, 404, 'no page unless asked')
  t.equal((await fetch(`${http}/rt/health`)).status, 200)
  const inside = await fetch(`${http}/rt/nowhere`)
  t.equal(inside.status, 404)
  t.same(await inside.json(), { statusCode: 404, error: 'Not Found', message: 'GET /rt/nowhere not found' }, 'the plugin\'s shape under its prefix')
})

t.test('echo under the prefix; what the host publishes reaches a chat member; close() sends 1001', async (t) => {
  const { app, http, ws } = await host(t, { historySize: 5 })
  const echo = await connect(t, `${ws}/rt/ws/echo`)
  const back = once(echo.ws, 'message')
  echo.ws.send('ping')
  t.equal(String((await back)[0]), 'ping')

  const member = await connect(t, `${ws}/rt/ws/chat/news?name=ann`)
  await member.frames.next('welcome')
  const res = await fetch(`${http}/announce/news`, { method: 'POST', body: 'extra', headers: { 'content-type': 'text/plain' } })
  t.match(await res.json(), { seq: 1, duplicate: false })
  t.match(await member.frames.next('message'), { room: 'news', from: 'host', text: 'extra', seq: 1 })
  t.match(await app.realtime.rooms(), { rooms: [{ room: 'news', members: 1, seq: 1 }] })
  t.equal(app.realtime.registry.size, 2)
  t.equal(app.realtime.config.HISTORY_SIZE, 5, 'a camelCase option is the setting')

  const echoClosed = closed(echo.ws)
  const memberClosed = closed(member.ws)
  await app.close()
  t.same((await echoClosed)[0], 1001)
  t.same((await memberClosed)[0], 1001)
})

t.test('publish refuses a bad room or text with a status', async (t) => {
  const { app } = await host(t)
  await t.rejects(app.realtime.publish('no room', { text: 'x' }), new RealtimeError(400, 'invalid room "no room": ^[A-Za-z0-9_-]{1,64}$'))
  await t.rejects(app.realtime.publish('ok', { text: '' }), new RealtimeError(400, 'text must not be empty'))
})

t.test('routes turn off one by one', async (t) => {
  const { http, ws } = await host(t, { echo: false, hub: false })
  t.equal(await upgradeStatus(`${ws}/rt/ws/echo`), 404)
  t.equal(await upgradeStatus(`${ws}/rt/ws/chat/a`), 404)
  t.equal((await fetch(`${http}/rt/rooms`)).status, 404)
  const time = new WebSocket(`${ws}/rt/ws/time`)
  t.teardown(() => time.terminate())
  const frames = new Frames(time)
  t.match(await frames.next('time'), { type: 'time' })
})

t.test('options are checked like the environment, naming the option', async (t) => {
  for (const [options, message] of [
    [{ historySize: -1 }, /^invalid historySize="-1"/],
    [{ authMode: 'jwt' }, /jwtSecret/],
    [{ allowedOrigins: ['not an origin'] }, /^invalid allowedOrigins=/],
    [{ histroySize: 3 }, /^unknown option histroySize/]
  ] as const) {
    const app = Fastify()
    app.register(realtime, options as RealtimeOptions)
    await t.rejects(async () => { await app.ready() }, { constructor: ConfigError, message })
    await app.close()
  }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(realtime, { allowedOrigins: ['https://a.example', 'https://b.example'], authMode: 'jwt', jwtSecret: 'x'.repeat(32) })
  await app.ready()
  t.same(app.realtime.config.ALLOWED_ORIGINS, ['https://a.example', 'https://b.example'])
  t.equal(app.realtime.config.AUTH_MODE, 'jwt')
})

t.test('every error under the prefix has one shape; a plain GET of a socket path is 426 with Upgrade', async (t) => {
  const { http } = await host(t, { apiToken: 'a'.repeat(16), chatMaxLength: 10 })
  const auth = { authorization: `Bearer ${'a'.repeat(16)}`, 'content-type': 'application/json' }
  const cases: Array<[string, RequestInit, number]> = [
    ['/rt/rooms?limit=0', {}, 400],
    ['/rt/rooms/a/messages', { method: 'POST', headers: auth, body: JSON.stringify({ text: 'x'.repeat(200_000) }) }, 413],
    ['/rt/rooms/a/messages', { method: 'POST', headers: auth, body: '{bad' }, 400],
    ['/rt/rooms/a/messages', { method: 'POST', headers: { ...auth, 'content-type': 'text/xml' }, body: '<a/>' }, 415],
    ['/rt/rooms/a/messages', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 401],
    ['/rt/rooms/nope', {}, 404],
    ['/rt/ws/echo', {}, 426],
    ['/rt/ws/chat/lobby', {}, 426],
    ['/rt/ws/hub', {}, 426],
    // what the upgrade would be refused for comes first: the client reads it after a failed handshake
    ['/rt/ws/hub?name=%01', {}, 400],
    ['/rt/ws/chat/bad%20room', {}, 400]
  ]
  for (const [path, init, status] of cases) {
    const res = await fetch(`${http}${path}`, init)
    const body = await res.json() as Record<string, unknown>
    t.equal(res.status, status, path)
    t.same(Object.keys(body).sort(), ['error', 'message', 'statusCode'], `${path}: the three keys`)
    t.match(body, { statusCode: status, error: STATUS_CODES[status] }, `${path}: error is the status's name`)
    if (status === 426) t.equal(res.headers.get('upgrade'), 'websocket')
  }
})

t.test('publish takes data with an event; publishToUser reaches every socket of that user (authMode jwt)', async (t) => {
  const secret = 'realtime-plugin-secret-0123456789abcdef'
  const { app, ws } = await host(t, { authMode: 'jwt', jwtSecret: secret })
  const token = await mint({ alg: 'HS256', key: new TextEncoder().encode(secret) }, { sub: 'alice', ttlSeconds: 600 })
  const hub = await connect(t, `${ws}/rt/ws/hub?token=${token}`)
  t.match(await hub.frames.next('subscribed'), { room: '@alice' }, 'a user\'s sockets follow their personal stream')
  const sent = await app.realtime.publishToUser('alice', { event: 'invoice', data: { id: 7, total: 12.5 } })
  t.match(sent, { seq: 1, duplicate: false })
  t.match(await hub.frames.next('message'), { room: '@alice', event: 'invoice', data: { id: 7, total: 12.5 }, seq: 1, from: 'server' })
  await t.rejects(app.realtime.publish('news', { text: 'a', data: 1 }), new RealtimeError(400, 'a message needs exactly one of "data" and "text"'))
  await t.rejects(app.realtime.publish('@alice', { text: 'a' }), { statusCode: 400 } as unknown as Error, 'a personal stream only through publishToUser')
  await t.rejects(app.realtime.publishToUser('a\u0000b', { text: 'a' }), { statusCode: 400 } as unknown as Error)
})

t.test('publishToUser needs authMode jwt', async (t) => {
  const { app } = await host(t)
  await t.rejects(app.realtime.publishToUser('alice', { text: 'hi' }), new RealtimeError(400, 'personal streams need authMode jwt'))
})

t.test('a host with WebSocket routes of its own shares its @fastify/websocket, registered with websocketOptions', async (t) => {
  const opts: RealtimeOptions = { maxPayloadBytes: 4096, maxEventLoopDelayMs: 0 }
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(websocket, { options: websocketOptions(opts) })
  app.get('/host-ws', { websocket: true }, (socket) => { socket.send('host socket') })
  await app.register(realtime, { prefix: '/rt', ...opts })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const ws = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const own = new WebSocket(`${ws}/host-ws`)
  t.equal(String((await once(own, 'message'))[0]), 'host socket', "the host's own socket route")
  own.close()
  const echo = await connect(t, `${ws}/rt/ws/echo`)
  const back = once(echo.ws, 'message')
  echo.ws.send('ping')
  t.equal(String((await back)[0]), 'ping', "the plugin's routes on the host's ws server")
  echo.ws.send('x'.repeat(5000))
  t.equal((await closed(echo.ws, 5000))[0], 1009, "and the plugin's MAX_PAYLOAD_BYTES holds on it")
})

t.test('a host @fastify/websocket with other limits, or registered after the plugin, is refused, naming why', async (t) => {
  const loose = Fastify()
  t.teardown(() => loose.close())
  await loose.register(websocket, { options: { maxPayload: 100 * 1024 * 1024 } })
  await t.rejects(async () => { await loose.register(realtime, { prefix: '/rt' }) }, /already registered with other maxPayload \(104857600, needs 65536\).*websocketOptions/)

  const late = Fastify()
  t.teardown(() => late.close())
  await late.register(realtime, { prefix: '/rt', maxEventLoopDelayMs: 0 })
  await late.register(websocket, { options: websocketOptions() })
  await t.rejects(async () => { await late.ready() }, /register @fastify\/websocket before fastify-realtime/)
})
