// plugins/registry: routes as an open set (docs/architecture.md's "Extending it" example, run as written), and
// shutdown owned end to end (draining once, 1001 to every socket).
import { once } from 'node:events'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { buildApp } from '../../src/app.js'
import { mint } from '../../src/token.js'
import { TEXT } from '../../src/registry/connection.js'
import { testConfig } from '../helper.js'

// docs/architecture.md, "Extending it"
async function shoutRoutes (app: FastifyInstance) {
  const route = app.registry.route('shout') // counted under its own name in /health and the metrics
  app.get('/ws/shout', { websocket: true }, (socket, req) => {
    const conn = app.registry.open(socket, req, { route })
    app.auth.watch(conn, req.identity, false) // AUTH_MODE=jwt: closed with 4002 at the token's exp
    socket.on('message', (data) => conn.send(String(data).toUpperCase(), TEXT))
  })
}

const SECRET = 'registry-test-secret-0123456789abcdef'

async function withShout (t: Test, overrides: Record<string, string> = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig({ METRICS_ENABLED: 'true', ...overrides }), { routes: [shoutRoutes] })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

t.test('a route added by a user is counted under its own name in /health and the metrics', async (t) => {
  const app = await withShout(t)
  const before = (await app.inject('/health')).json()
  t.same(before.connections, { total: 0, echo: 0, time: 0, chat: 0, hub: 0, shout: 0 }, 'listed from the start, at zero')
  const ws = await app.injectWS('/ws/shout')
  t.teardown(() => ws.terminate())
  const reply = once(ws, 'message')
  ws.send('hey')
  t.equal(String((await reply)[0]), 'HEY')
  t.match((await app.inject('/health')).json(), { connections: { total: 1, echo: 0, time: 0, chat: 0, shout: 1 } })
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /rt_connections_open\{route="shout"\} 1/)
  t.match(metrics, /rt_connections_opened_total\{route="shout"\} 1/)
  t.match(metrics, /rt_messages_out_total\{route="shout"\} 1/)
  t.match(metrics, /rt_connections_open\{route="echo"\} 0/, 'the built-in routes keep their labels')
})

t.test('with AUTH_MODE=jwt the example route needs a token and watches its expiry', async (t) => {
  const app = await withShout(t, { AUTH_MODE: 'jwt', JWT_SECRET: SECRET })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const token = await mint({ alg: 'HS256', key: new TextEncoder().encode(SECRET) }, { sub: 'sam', ttlSeconds: 3600 })
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/shout?token=${token}`)
  t.teardown(() => ws.terminate())
  await once(ws, 'open')
  const [conn] = [...app.registry.values()]
  t.equal(conn?.userId, 'sam')
  t.ok(conn?.expiry !== undefined, 'an expiry timer closes it at the token\'s exp')
  const refused = new WebSocket(`ws://127.0.0.1:${port}/ws/shout`)
  refused.on('error', () => {}) // terminate() before the upgrade completes reports one
  const [, res] = await once(refused, 'unexpected-response') as [unknown, { statusCode: number }]
  refused.terminate()
  t.equal(res.statusCode, 401)
})

t.test('close(): the registry drains, every socket gets 1001, /ready says 503 meanwhile', async (t) => {
  const app = await buildApp(testConfig())
  await app.ready()
  const ws = await app.injectWS('/ws/echo')
  let seen: { draining: boolean, notReady: string | undefined } | undefined
  // the close frame arrives while the registry drains: look at the instance from there
  const closedWith = new Promise<[number, string]>((resolve) => {
    ws.on('close', (code, reason) => {
      seen = { draining: app.registry.draining, notReady: app.lifecycle.notReady() }
      resolve([code, String(reason)])
    })
  })
  t.equal(app.registry.draining, false)
  const closing = app.close()
  t.same(await closedWith, [1001, 'server shutting down'])
  t.same(seen, { draining: true, notReady: 'shutting down' })
  await closing
  t.equal(app.registry.size, 0)
})
