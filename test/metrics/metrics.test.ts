import t from 'tap'
import { once } from 'node:events'
import WebSocket from 'ws'
import { closed, connect, listen, upgradeStatus, captureLogs, waitFor } from '../helper.js'

const TOKEN = 'test-token-0123456789abcdef'
const METRICS = 'metrics-token-0123456789'

/** Parses the Prometheus text format into `name{labels}` -> value. */
function parse (text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.lastIndexOf(' ')
    out.set(line.slice(0, i), Number(line.slice(i + 1)))
  }
  return out
}

t.test('metrics move as expected after a scripted session', async (t) => {
  const { app, ws: base } = await listen(t, { CHAT_RATE_PER_SEC: '1', CHAT_RATE_BURST: '2', CHAT_MAX_LENGTH: '10', HEARTBEAT_INTERVAL_MS: '100', ALLOWED_ORIGINS: 'https://ok.example' })
  const echo = await connect(t, `${base}/ws/echo`)
  const reply = new Promise((resolve) => echo.ws.once('message', resolve))
  echo.ws.send('12345')
  await reply
  const a = await connect(t, `${base}/ws/chat/m?name=A`)
  await a.frames.next('welcome')
  const b = await connect(t, `${base}/ws/chat/m?name=B`)
  await b.frames.next('welcome')
  a.ws.send('one')
  a.ws.send('this is far too long')
  a.ws.send('two')
  a.ws.send('three')
  await a.frames.next((f) => f.code === 'too_long')
  await a.frames.next((f) => f.code === 'rate_limited')
  await b.frames.next((f) => f.text === 'two')
  t.equal(await upgradeStatus(`${base}/ws/echo`, { origin: 'https://evil.example' }), 403)
  t.equal(await upgradeStatus(`${base}/ws/chat/bad%20room`), 400)
  t.equal(await upgradeStatus(`${base}/nowhere`), 404)
  const silent = new WebSocket(`${base}/ws/time`, { autoPong: false })
  t.teardown(() => silent.terminate())
  // listen before open: the heartbeat may reap it before the test would get round to waiting
  const reaped = once(silent, 'close')
  await once(silent, 'open')
  await reaped
  const bye = closed(echo.ws)
  echo.ws.close(4321, 'done')
  await bye
  // the server counts a close when its own socket emits close, which may trail the client's by a moment
  await waitFor(() => app.registry.size === 2, 'only the two chat sockets left on the server')

  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /text\/plain/)
  const m = parse(res.body)
  t.equal(m.get('rt_connections_open{route="chat"}'), 2)
  t.equal(m.get('rt_connections_open{route="echo"}'), 0)
  t.equal(m.get('rt_connections_opened_total{route="echo"}'), 1)
  t.equal(m.get('rt_connections_opened_total{route="chat"}'), 2)
  t.equal(m.get('rt_connections_closed_total{route="echo",code="4xxx"}'), 1, 'a client\'s own code is counted by its range')
  t.equal(m.get('rt_server_closes_total{reason="heartbeat timeout"}'), 1)
  t.equal(m.get('rt_messages_in_total{route="echo"}'), 1)
  t.equal(m.get('rt_messages_out_total{route="echo"}'), 1)
  t.equal(m.get('rt_bytes_in_total{route="echo"}'), 5)
  t.equal(m.get('rt_messages_in_total{route="chat"}'), 4)
  t.equal(m.get('rt_chat_messages_total{result="accepted",reason=""}'), 2)
  t.equal(m.get('rt_chat_messages_total{result="refused",reason="too_long"}'), 1)
  t.equal(m.get('rt_chat_messages_total{result="refused",reason="rate_limited"}'), 1)
  t.equal(m.get('rt_broadcast_deliveries_total'), 4, 'two messages to two members')
  t.equal(m.get('rt_fanout_seconds_count'), 2)
  t.equal(m.get('rt_upgrade_refusals_total{reason="origin"}'), 1)
  t.equal(m.get('rt_upgrade_refusals_total{reason="bad_request"}'), 1)
  t.equal(m.get('rt_upgrade_refusals_total{reason="not_found"}'), 1)
  t.equal(m.get('rt_ready'), 1)
  t.ok(m.has('nodejs_eventloop_lag_seconds'), 'event-loop lag')
  t.ok(m.has('process_resident_memory_bytes'), 'process metrics')
  t.notOk(m.has('rt_backplane_up'), 'no backplane metric without Redis')
})

t.test('close codes chosen by clients make a handful of series, not one per code', async (t) => {
  // 200 sockets from one address as fast as they open: over UPGRADE_RATE_BURST's default
  const { app, ws: base } = await listen(t, { UPGRADE_RATE_PER_SEC: '10000', UPGRADE_RATE_BURST: '10000' })
  const codes = Array.from({ length: 200 }, (_, i) => 3000 + i * 10) // 3000..4990: 100 in 3xxx, 100 in 4xxx
  for (let i = 0; i < codes.length; i += 20) {
    await Promise.all(codes.slice(i, i + 20).map(async (code) => {
      const { ws } = await connect(t, `${base}/ws/echo`)
      const done = closed(ws)
      ws.close(code)
      t.equal((await done)[0], code, `closed with ${code}`)
    }))
  }
  // the server counts a close when its own socket emits close, which may trail the client's by a moment
  await waitFor(() => app.registry.size === 0, 'every echo socket closed on the server')
  const m = parse((await app.inject('/metrics')).body)
  const series = [...m.keys()].filter((k) => k.startsWith('rt_connections_closed_total{'))
  // 4000 and 4500 are codes the server sends itself (src/protocol/codes.ts): they keep their own series
  t.same(series.sort(), ['3xxx', '4000', '4500', '4xxx'].map((c) => `rt_connections_closed_total{route="echo",code="${c}"}`))
  t.equal(m.get('rt_connections_closed_total{route="echo",code="3xxx"}'), 100)
  t.equal(m.get('rt_connections_closed_total{route="echo",code="4xxx"}'), 98)
})

t.test('METRICS_TOKEN protects /metrics', async (t) => {
  const { app } = await listen(t, { METRICS_TOKEN: METRICS })
  t.equal((await app.inject('/metrics')).statusCode, 401)
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer nope' } })).statusCode, 401)
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS}` } })).statusCode, 200)
  for (const header of [`bearer ${METRICS}`, `BEARER ${METRICS}`, `Bearer  ${METRICS}`]) {
    t.equal((await app.inject({ url: '/metrics', headers: { authorization: header } })).statusCode, 200, `${header.slice(0, 8)}…: the scheme in any case, 1*SP`)
  }
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: `Basic ${METRICS}` } })).statusCode, 401, 'another scheme')
})

t.test('admin API: token rules, filters, limit and a kick with the requested code', async (t) => {
  const { app, ws: base } = await listen(t, { API_TOKEN: TOKEN })
  const auth = { authorization: `Bearer ${TOKEN}` }
  const a = await connect(t, `${base}/ws/chat/one?name=A`, { headers: { 'user-agent': 'test-agent/1' } })
  const aw = await a.frames.next('welcome')
  const b = await connect(t, `${base}/ws/chat/two?name=B`)
  await b.frames.next('welcome')
  await connect(t, `${base}/ws/echo`)
  t.equal((await app.inject('/connections')).statusCode, 401, 'missing token')
  t.equal((await app.inject({ url: '/connections', headers: { authorization: 'Bearer wrong' } })).statusCode, 401, 'wrong token')
  const all = (await app.inject({ url: '/connections', headers: auth })).json()
  t.equal(all.total, 3)
  const one = (await app.inject({ url: '/connections?route=chat&room=one', headers: auth })).json()
  t.equal(one.total, 1)
  t.match(one.connections[0], { id: aw.id, route: 'chat', room: 'one', ip: '127.0.0.1', userAgent: 'test-agent/1', messagesIn: 0 })
  t.ok(!Number.isNaN(Date.parse(one.connections[0].connectedAt)))
  const limited = (await app.inject({ url: '/connections?limit=1', headers: auth })).json()
  t.equal(limited.connections.length, 1)
  t.equal(limited.total, 3)
  t.equal((await app.inject({ url: '/connections?route=nope', headers: auth })).statusCode, 400)

  const kicked = closed(a.ws)
  const del = await app.inject({ method: 'DELETE', url: `/connections/${String(aw.id)}?code=4003&reason=spam`, headers: auth })
  t.equal(del.statusCode, 204)
  t.same(await kicked, [4003, 'spam'], 'the socket really closed with the requested code')
  const b2 = closed(b.ws)
  const bId = ((await app.inject({ url: '/connections?room=two', headers: auth })).json()).connections[0].id
  t.equal((await app.inject({ method: 'DELETE', url: `/connections/${String(bId)}`, headers: auth })).statusCode, 204)
  t.equal((await b2)[0], 4500, 'default code 4500: do not reconnect')
  t.equal((await app.inject({ method: 'DELETE', url: '/connections/no-such-id', headers: auth })).statusCode, 404)
  t.equal((await app.inject({ method: 'DELETE', url: `/connections/${String(bId)}?code=1006`, headers: auth })).statusCode, 400, '1006 may not be sent')
  t.equal((await app.inject({ method: 'DELETE', url: '/connections/x' })).statusCode, 401)
})

t.test('admin kick: the reason is bounded in UTF-8 bytes and the code to those a server may send; 400, never 500', async (t) => {
  const { app, ws: base } = await listen(t, { API_TOKEN: TOKEN })
  const auth = { authorization: `bearer ${TOKEN}` } // the scheme in any case
  const c = await connect(t, `${base}/ws/chat/k?name=K`)
  const id = String((await c.frames.next('welcome')).id)
  const kick = async (query: string) => await app.inject({ method: 'DELETE', url: `/connections/${id}?${query}`, headers: auth })
  const accents = await kick(`reason=${encodeURIComponent('é'.repeat(100))}`) // 100 characters, 200 bytes
  t.equal(accents.statusCode, 400, '200 bytes of reason')
  t.same(accents.json(), { statusCode: 400, error: 'Bad Request', message: 'reason is 200 bytes of UTF-8: a close reason holds at most 123' })
  t.equal((await kick(`reason=${encodeURIComponent('😀'.repeat(31))}`)).statusCode, 400, '124 bytes of emoji')
  t.equal((await kick(`reason=${'x'.repeat(124)}`)).statusCode, 400, '124 ASCII characters (the schema)')
  for (const code of ['1001', '1005', '1006', '1015', '999', '2000', '2999', '5000', '1000.5', 'abc']) {
    const res = await kick(`code=${code}`)
    t.equal(res.statusCode, 400, `code ${code}`)
    t.match(res.json(), { statusCode: 400, error: 'Bad Request', message: /code/ }, `code ${code}: a JSON error naming the field`)
  }
  t.equal(c.ws.readyState, WebSocket.OPEN, 'after every refusal the socket is still open')
  c.ws.send('still usable')
  t.match(await c.frames.next('message'), { text: 'still usable' }, 'and still works')
  const done = closed(c.ws)
  const reason = 'é'.repeat(61) + 'x' // 123 bytes: the most a close frame holds
  t.equal((await kick(`code=3001&reason=${encodeURIComponent(reason)}`)).statusCode, 204)
  t.same(await done, [3001, reason], 'a 123-byte reason goes through intact')
})

t.test('admin API is disabled without API_TOKEN', async (t) => {
  const { app } = await listen(t)
  t.equal((await app.inject({ url: '/connections', headers: { authorization: 'Bearer whatever-it-is-123' } })).statusCode, 403)
})

t.test('log lines: JSON with connection ids and request ids; message text only at debug', async (t) => {
  for (const level of ['info', 'debug']) {
    const { logger, lines } = captureLogs(level)
    const { ws: base } = await listen(t, {}, { loggerInstance: logger })
    const c = await connect(t, `${base}/ws/chat/log?name=Lou`)
    const w = await c.frames.next('welcome')
    c.ws.send('a secret message text')
    await c.frames.next('message')
    const done = closed(c.ws)
    c.ws.close()
    await done
    await waitFor(() => lines.some((l) => l.msg === 'ws closed'), 'the server\'s close log line')
    const withText = lines.filter((l) => JSON.stringify(l).includes('a secret message text'))
    if (level === 'info') {
      t.equal(withText.length, 0, 'no message text at info')
      const connected = lines.find((l) => l.msg === 'ws connected')
      t.match(connected, { connId: w.id, route: 'chat', room: 'log', ip: '127.0.0.1' })
      const closedLine = lines.find((l) => l.msg === 'ws closed')
      t.match(closedLine, { connId: w.id, route: 'chat', code: 1005 })
      t.type(closedLine?.durationMs, 'number')
      const incoming = lines.find((l) => l.msg === 'request')
      t.type(incoming?.reqId, 'string', 'HTTP lines carry a request id')
    } else {
      t.equal(withText.length, 1, 'text at debug')
      t.match(withText[0], { level: 20, connId: w.id, msg: 'chat message' })
    }
  }
})

t.test('METRICS_ENABLED=false leaves the plugin out: /metrics is 404, everything else works', async (t) => {
  const { app, ws } = await listen(t, { METRICS_ENABLED: 'false' })
  t.equal((await app.inject('/metrics')).statusCode, 404)
  const a = await connect(t, `${ws}/ws/chat/m`)
  await a.frames.next('welcome')
  a.ws.send('counted nowhere')
  t.match(await a.frames.next('message'), { text: 'counted nowhere', seq: 1 })
  t.equal((await app.inject('/health')).json().connections.chat, 1)
})
