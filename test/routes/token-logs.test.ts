// A browser's connection token travels in the upgrade URL: however its key is spelled, it never reaches a log line.
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Writable } from 'node:stream'
import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { loggerOptions } from '../../src/app.js'
import { redactToken } from '../../src/auth/jwt.js'
import { errorSerializer } from '../../src/auth/log-redaction.js'
import { mint } from '../../src/token.js'
import { build, captureLogs, testConfig } from '../helper.js'

const SECRET = 'token-logs-secret-0123456789abcdef-xyz'
const JWT = { AUTH_MODE: 'jwt', JWT_SECRET: SECRET }

/** A raw upgrade (no client-side URL rules, so `#` and any key spelling go out as written): 101 or the refusal status. */
async function upgrade (port: number, path: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      agent: false, // a fresh connection each: a refused upgrade's connection is not reused
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64') }
    })
    req.on('upgrade', (_res, socket) => { socket.destroy(); resolve(101) })
    req.on('response', (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  })
}

// [path with JWT in place of the token, what the server answers]: the query parser decodes keys, so `%74oken`
// is `token` to it; `TOKEN` is another key (401, yet its URL is logged first); the router starts the query at
// `#` as well as `?`; a value runs to the next `&`, `#` included (so `token=JWT#frag` is not a valid token)
const CASES: Array<[string, number]> = [
  ['/ws/echo?token=JWT', 101],
  ['/ws/echo?%74oken=JWT', 101],
  ['/ws/chat/lobby?name=Ann&%74%6F%6B%65%6E=JWT', 101],
  ['/ws/echo#token=JWT', 101],
  ['/ws/echo?TOKEN=JWT', 401],
  ['/ws/echo?a=1&token=JWT#frag', 401],
  ['/ws/echo?a=1#x&Token=JWT&b=2', 401],
  ['/ws/echo?token=JWT&token=JWT', 401],
  ['/nowhere?token=JWT', 404]
]

async function upgradesLeaveNoToken (t: Test, app: FastifyInstance, lines: Array<Record<string, unknown>>, hooks: boolean): Promise<void> {
  const jwt = await mint({ alg: 'HS256', key: new TextEncoder().encode(SECRET) }, { sub: 'alice', ttlSeconds: 600 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  for (const [path, status] of CASES) t.equal(await upgrade(port, path.replaceAll('JWT', jwt)), status, path)
  // errors and messages quoting a URL, as Fastify's own do (a reply sent twice, a route not found)
  app.log.error({ err: new Error(`reply already sent for /ws/echo?%74oken=${jwt}`) }, 'request failed')
  // a child of a caller's logger takes serializers but no hooks: message strings are redacted only with loggerOptions
  if (hooks) app.log.info(`Route GET:/ws/echo?TOKEN=${jwt} not found`)
  await app.close() // every socket closed and logged

  const urls = lines.filter((l) => l.msg === 'request').map((l) => String(l.path))
  t.equal(urls.length, CASES.length, 'every request was logged')
  for (const url of urls) t.match(url, /=\[redacted\]/, url)
  t.ok(lines.filter((l) => l.msg === 'ws connected').length >= 4 && lines.some((l) => l.msg === 'ws closed'), 'connect and close lines were written')
  const all = JSON.stringify(lines)
  const [, payload, signature] = jwt.split('.')
  t.notOk(all.includes(payload!) || all.includes(signature!), 'no log line carries the token')
}

t.test('the production logger (loggerOptions): no log line carries the token', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    }
  })
  const app = await build(t, JWT, { logger: { ...loggerOptions(testConfig(JWT)), level: 'debug', stream } })
  await upgradesLeaveNoToken(t, app, lines, true)
  t.ok(lines.some((l) => l.msg === 'Route GET:/ws/echo?TOKEN=[redacted] not found'), 'a message quoting a URL is redacted')
})

t.test("a caller's logger (loggerInstance): no log line carries the token", async (t) => {
  const { logger, lines } = captureLogs('debug')
  const app = await build(t, JWT, { loggerInstance: logger })
  await upgradesLeaveNoToken(t, app, lines, false)
})

t.test('redactToken: every spelling the query parser decodes to token, nothing else', async (t) => {
  const cases: Array<[string, string]> = [
    ['/ws/chat/x?name=a&token=abc.def.ghi&since=3', '/ws/chat/x?name=a&token=[redacted]&since=3'],
    ['/ws/echo?token=a&token=b', '/ws/echo?token=[redacted]&token=[redacted]'],
    ['/ws/echo?%74oken=a', '/ws/echo?%74oken=[redacted]'],
    ['/ws/echo?%54%4f%4b%45%4e=a&b=1', '/ws/echo?%54%4f%4b%45%4e=[redacted]&b=1'],
    ['/ws/echo?ToKeN=a', '/ws/echo?ToKeN=[redacted]'],
    ['/ws/echo#token=a', '/ws/echo#token=[redacted]'],
    ['/ws/echo?x=1#token=a&y=2', '/ws/echo?x=1#token=[redacted]&y=2'],
    ['/ws/echo?token=a#b?c', '/ws/echo?token=[redacted]'],
    ['/ws/echo?token=', '/ws/echo?token=[redacted]'],
    ['in the "/ws/echo?token=a.b.c" (GET) route', 'in the "/ws/echo?token=[redacted] (GET) route'],
    // not token to the parser: left alone
    ['/ws/echo?mytoken=a', '/ws/echo?mytoken=a'],
    ['/ws/echo?tok+en=a', '/ws/echo?tok+en=a'],
    ['/ws/echo?%2574oken=a', '/ws/echo?%2574oken=a'],
    ['/ws/echo?%zztoken=a', '/ws/echo?%zztoken=a'],
    ['/ws/echo?name=token', '/ws/echo?name=token'],
    ['/health', '/health']
  ]
  for (const [input, output] of cases) t.equal(redactToken(input), output, input)
})

t.test('errorSerializer redacts the message, the stack and fields such as a raw request packet', async (t) => {
  const err = Object.assign(new Error('bad /ws/echo?token=SECRET1'), { url: '/ws/echo?%74oken=SECRET2', rawPacket: Buffer.from('GET /ws/echo?token=SECRET3 HTTP/1.1\r\n') })
  const out = JSON.stringify(errorSerializer(err))
  t.notMatch(out, /SECRET/)
  t.match(out, /bad \/ws\/echo\?token=\[redacted\]/)
  t.match(out, /GET \/ws\/echo\?token=\[redacted\] HTTP/)
  t.equal(errorSerializer('not an error' as unknown as Error), 'not an error')
})
