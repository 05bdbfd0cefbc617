import { request } from 'node:http'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import securityHeaders, { connectSources } from '../../plugins/security-headers.js'
import { build, listen } from '../helper.js'

const CSP = "default-src 'self';base-uri 'none';form-action 'self';frame-ancestors 'none';connect-src 'self' ws://localhost:80"

function checkHeaders (t: Test, headers: Record<string, unknown>, what: string, csp = CSP): void {
  t.equal(headers['content-security-policy'], csp, `${what}: CSP`)
  t.equal(headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
  t.equal(headers['referrer-policy'], 'no-referrer', `${what}: referrer`)
  t.equal(headers['x-frame-options'], 'DENY', `${what}: framing`)
  t.equal(headers['strict-transport-security'], undefined, `${what}: no HSTS from a plain-HTTP process`)
}

t.test('every kind of HTTP answer carries the headers', async (t) => {
  const app = await build(t)
  const answers: Array<[string, number]> = [['/', 200], ['/health', 200], ['/css/app.css', 200], ['/favicon.svg', 200], ['/nope', 404], ['/ws/echo', 426], ['/rooms/bad%20room/history', 400]]
  for (const [url, status] of answers) {
    const res = await app.inject({ url })
    t.equal(res.statusCode, status, url)
    checkHeaders(t, res.headers, url)
  }
  const page = await app.inject({ url: '/' })
  t.notMatch(page.body, /\sstyle=|<script>|\son[a-z]+=/, 'the page has no inline script, style or handler for the CSP to refuse')
})

t.test("connect-src names the page's own ws(s) origin, and only a well-formed host", async (t) => {
  const app = await build(t, { TRUST_PROXY: '127.0.0.1' })
  const csp = async (headers: Record<string, string>) => (await app.inject({ url: '/', headers })).headers['content-security-policy']
  t.match(await csp({ host: 'rt.example.com:8080' }), /;connect-src 'self' ws:\/\/rt\.example\.com:8080$/)
  t.match(await csp({ host: '[::1]:3000' }), /;connect-src 'self' ws:\/\/\[::1\]:3000$/)
  t.match(await csp({ host: 'internal:3001', 'x-forwarded-host': 'rt.example.com', 'x-forwarded-proto': 'https' }),
    /;connect-src 'self' wss:\/\/rt\.example\.com$/, 'behind the trusted proxy: the public host, wss')
  t.match(await csp({ host: 'evil.example; script-src *' }), /;connect-src 'self'$/, 'a host that would add a directive is left out')
  t.same(connectSources(undefined, 'http'), ["'self'"])
  t.same(connectSources('a.example *', 'https'), ["'self'"])
})

t.test('the plugin on a bare Fastify: headers on a route and on the 404, none on a WebSocket upgrade request', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.decorateRequest('ws', false)
  app.addHook('onRequest', async (req) => { (req as { ws: boolean }).ws = req.headers.upgrade === 'websocket' })
  await app.register(securityHeaders)
  app.get('/x', async () => ({ ok: true }))
  await app.ready()
  checkHeaders(t, (await app.inject({ url: '/x' })).headers, 'route')
  checkHeaders(t, (await app.inject({ url: '/missing' })).headers, '404')
  const upgrade = await app.inject({ url: '/x', headers: { upgrade: 'websocket', connection: 'upgrade' } })
  t.equal(upgrade.headers['content-security-policy'], undefined, 'an upgrade request is skipped')
})

t.test('the service skips them on a refused WebSocket upgrade: its onRequest runs after the one that marks upgrades', async (t) => {
  const { port } = await listen(t)
  const refusal = await new Promise<{ status: number, headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/ws/chat/bad%20room', headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    req.on('response', (res) => { res.resume(); resolve({ status: res.statusCode ?? 0, headers: res.headers }) })
    req.on('upgrade', () => reject(new Error('upgraded')))
    req.on('error', reject)
    req.end()
  })
  t.equal(refusal.status, 400, 'a bad room is refused before the upgrade')
  t.equal(refusal.headers['content-security-policy'], undefined, 'no CSP on it')
  t.equal(refusal.headers['x-frame-options'], undefined, 'nor the other page headers')
})
