// The Origin rule (scheme, host and port, or an ALLOWED_ORIGINS entry) and ALLOWED_HOSTS, on a real listening
// server with a real ws client: a refusal is a 403 with the JSON body before the 101.
import t from 'tap'
import WebSocket from 'ws'
import { build, connect, listen } from '../helper.js'
import { hostAllowed, hostPort, sameOrigin } from '../../src/config/hosts.js'
import { loadConfig } from '../../src/config/load.js'

/** The status and JSON body of a refused upgrade (rejects when it was accepted). */
async function refusal (url: string, options: WebSocket.ClientOptions): Promise<{ status: number, body: unknown }> {
  const ws = new WebSocket(url, options)
  return await new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.on('data', (d) => { text += String(d) })
      res.on('end', () => { ws.terminate(); resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }) })
    })
    ws.on('open', () => { ws.terminate(); reject(new Error(`upgrade to ${url} was accepted`)) })
    ws.on('error', reject)
  })
}

const FORBIDDEN_ORIGIN = { statusCode: 403, error: 'Forbidden', message: 'origin not allowed' }
const FORBIDDEN_HOST = { statusCode: 403, error: 'Forbidden', message: 'host not allowed' }

t.test('the Origin must be the request\'s own scheme, host and port', async (t) => {
  const { ws, port } = await listen(t)
  const url = `${ws}/ws/echo`
  const same = await connect(t, url, { origin: `http://127.0.0.1:${port}` })
  t.equal(same.ws.readyState, WebSocket.OPEN, 'same origin, port included')
  t.same(await refusal(url, { origin: `https://127.0.0.1:${port}` }), { status: 403, body: FORBIDDEN_ORIGIN }, 'https page, http request')
  t.same(await refusal(url, { origin: `http://127.0.0.1:${port + 1}` }), { status: 403, body: FORBIDDEN_ORIGIN }, 'another port')
  t.same(await refusal(url, { origin: 'http://127.0.0.1' }), { status: 403, body: FORBIDDEN_ORIGIN }, 'no port is port 80')
  const ext = { headers: { host: 'app.test' } }
  const page = await connect(t, url, { ...ext, origin: 'http://app.test' })
  t.equal(page.ws.readyState, WebSocket.OPEN, 'the control: a page on the Host the request names')
  t.same(await refusal(url, { ...ext, origin: 'chrome-extension://app.test' }), { status: 403, body: FORBIDDEN_ORIGIN }, 'an extension\'s scheme')
  t.same(await refusal(url, { ...ext, origin: 'null' }), { status: 403, body: FORBIDDEN_ORIGIN }, 'an opaque origin')
})

t.test('ALLOWED_ORIGINS is an exact match; * allows any', async (t) => {
  const { ws } = await listen(t, { ALLOWED_ORIGINS: 'https://app.example' })
  const url = `${ws}/ws/echo`
  const ok = await connect(t, url, { origin: 'https://app.example' })
  t.equal(ok.ws.readyState, WebSocket.OPEN)
  for (const origin of ['http://app.example', 'https://app.example:8443', 'https://x.app.example']) {
    t.equal((await refusal(url, { origin })).status, 403, origin)
  }
  const any = await listen(t, { ALLOWED_ORIGINS: '*' })
  const star = await connect(t, `${any.ws}/ws/echo`, { origin: 'chrome-extension://abc' })
  t.equal(star.ws.readyState, WebSocket.OPEN, '* lets any origin in')
})

t.test('DNS rebinding: Host and Origin both the attacker\'s', async (t) => {
  const rebound = { headers: { host: 'attacker.example' }, origin: 'http://attacker.example' }
  const open = await listen(t)
  const through = await connect(t, `${open.ws}/ws/echo`, rebound)
  t.equal(through.ws.readyState, WebSocket.OPEN, 'without ALLOWED_HOSTS the pair is same-origin: the gap ALLOWED_HOSTS closes')

  const { ws, port } = await listen(t, { ALLOWED_HOSTS: 'realtime.example.com, 127.0.0.1' })
  t.same(await refusal(`${ws}/ws/echo`, rebound), { status: 403, body: FORBIDDEN_HOST }, 'refused before the 101')
  t.same(await refusal(`${ws}/ws/chat/lobby`, rebound), { status: 403, body: FORBIDDEN_HOST })
  const listed = await connect(t, `${ws}/ws/echo`, { headers: { host: 'realtime.example.com' }, origin: 'http://realtime.example.com' })
  t.equal(listed.ws.readyState, WebSocket.OPEN, 'a listed host')
  const byIp = await connect(t, `${ws}/ws/echo`, { origin: `http://127.0.0.1:${port}` })
  t.equal(byIp.ws.readyState, WebSocket.OPEN, 'an entry without a port matches the host on any port')
})

t.test('ALLOWED_HOSTS covers plain HTTP too, except the probes', async (t) => {
  const app = await build(t, { ALLOWED_HOSTS: 'realtime.example.com:8443' })
  const at = async (url: string, host: string) => await app.inject({ url, headers: { host } })
  const page = await at('/', 'attacker.example')
  t.equal(page.statusCode, 403)
  t.same(page.json(), FORBIDDEN_HOST)
  t.equal((await at('/config', 'realtime.example.com')).statusCode, 403, 'the listed port only')
  t.equal((await at('/config', 'realtime.example.com:8443')).statusCode, 200)
  t.equal((await at('/config', 'REALTIME.example.com:8443')).statusCode, 200, 'host names are case-insensitive')
  t.equal((await at('/nope', 'attacker.example')).statusCode, 403, 'before the 404')
  t.equal((await at('/health', '10.0.0.5:3000')).statusCode, 200, '/health answers probes by IP')
  t.equal((await at('/ready', '10.0.0.5:3000')).statusCode, 200, '/ready as well')
})

t.test('behind a trusted proxy, X-Forwarded-Proto and -Host make the request\'s origin', async (t) => {
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'realtime.example.com' }
  const { ws } = await listen(t, { TRUST_PROXY: '127.0.0.1', ALLOWED_HOSTS: 'realtime.example.com' })
  const url = `${ws}/ws/echo`
  const ok = await connect(t, url, { headers: forwarded, origin: 'https://realtime.example.com' })
  t.equal(ok.ws.readyState, WebSocket.OPEN, 'an https page through a TLS-terminating proxy')
  t.equal((await refusal(url, { headers: forwarded, origin: 'http://realtime.example.com' })).status, 403, 'an http page is another origin')

  const direct = await listen(t, { TRUST_PROXY: '10.0.0.1' })
  t.equal((await refusal(`${direct.ws}/ws/echo`, { headers: { ...forwarded, host: 'realtime.example.com' }, origin: 'https://realtime.example.com' })).status, 403,
    'an untrusted peer\'s X-Forwarded-Proto does not count')
})

t.test('the rules as pure functions', async (t) => {
  t.ok(sameOrigin('http://h:80', 'http', 'h'), 'a default port is no port')
  t.ok(sameOrigin('https://h', 'https', 'h:443'))
  t.notOk(sameOrigin('http://h', 'http', undefined))
  t.notOk(sameOrigin('not a url', 'http', 'h'))
  t.same(hostPort('[::1]:3000'), { hostname: '[::1]', port: 3000 })
  t.same(hostPort('Example.COM'), { hostname: 'example.com', port: undefined })
  for (const bad of ['', 'h:', 'a/b', 'u@h', 'h:99999', 'h h']) t.equal(hostPort(bad), undefined, JSON.stringify(bad))
  t.ok(hostAllowed('anything', []), 'no list: any host')
  t.notOk(hostAllowed(undefined, ['h']))
  t.notOk(hostAllowed('h:80', ['h:8080']))
  t.ok(hostAllowed('[::1]:3000', ['[::1]']))
})

t.test('ALLOWED_HOSTS is validated at start-up', async (t) => {
  t.same(loadConfig({ ALLOWED_HOSTS: ' A.example , 10.0.0.5:3000,[::1]' }).ALLOWED_HOSTS, ['a.example', '10.0.0.5:3000', '[::1]'])
  t.same(loadConfig({}).ALLOWED_HOSTS, [])
  t.throws(() => loadConfig({ ALLOWED_HOSTS: 'https://a.example' }), /invalid ALLOWED_HOSTS=.*"https:\/\/a\.example" is not a host\[:port\]/)
})
