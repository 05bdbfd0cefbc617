// plugins/request-log (the service's): one line per request, probes at debug, the token never in the path.
import t from 'tap'
import { build, captureLogs, connect, listen } from '../helper.js'

t.test('one info line per request with method, path, status, ms and request id; probes stay out of info', async (t) => {
  const { logger, lines } = captureLogs('info')
  const app = await build(t, {}, { loggerInstance: logger })
  await app.inject('/config?x=1')
  await app.inject('/nowhere')
  for (const probe of ['/health', '/ready', '/metrics']) await app.inject(probe)
  const requests = lines.filter((l) => l.msg === 'request')
  t.match(requests, [
    { method: 'GET', path: '/config?x=1', status: 200, ms: Number, reqId: String },
    { method: 'GET', path: '/nowhere', status: 404 }
  ])
  t.equal(requests.length, 2, 'nothing for /health, /ready, /metrics')
  t.notOk(lines.some((l) => l.msg === 'incoming request' || l.msg === 'request completed'), 'not Fastify\'s two lines')
})

t.test('an upgrade is one line with status 101 and the token redacted', async (t) => {
  const { logger, lines } = captureLogs('info')
  const { ws } = await listen(t, {}, { loggerInstance: logger })
  await connect(t, `${ws}/ws/echo?token=abc.def.ghi`)
  const upgrade = lines.filter((l) => l.msg === 'request')
  t.match(upgrade, [{ method: 'GET', path: '/ws/echo?token=[redacted]', status: 101 }])
  t.notOk(JSON.stringify(lines).includes('abc.def.ghi'))
})
