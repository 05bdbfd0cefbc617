import { once } from 'node:events'
import { connect as tcpConnect } from 'node:net'
import t from 'tap'
import { build, listen, connect, upgradeStatus } from '../helper.js'

const TOKEN = 'test-token-0123456789abcdef'

t.test('health, ready, page, 404 JSON', async (t) => {
  const app = await build(t)
  const health = await app.inject('/health')
  t.equal(health.statusCode, 200)
  t.match(health.json(), { status: 'ok', connections: { total: 0, echo: 0, time: 0, chat: 0 } })
  const ready = await app.inject('/ready')
  t.equal(ready.statusCode, 200)
  t.same(ready.json(), { status: 'ready' })
  const page = await app.inject('/')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  const missing = await app.inject('/nope')
  t.equal(missing.statusCode, 404)
  t.match(missing.json(), { statusCode: 404, error: 'Not Found' })
  const plain = await app.inject('/ws/echo')
  t.equal(plain.statusCode, 426, 'a plain GET to a WebSocket route is 426 Upgrade Required')
  t.equal(plain.headers.upgrade, 'websocket')
  t.same((await app.inject('/config')).json(), { authMode: 'none', chatMaxLength: 2000, timeIntervalMs: 1000 })
  t.equal((await app.inject('/js/index.js')).statusCode, 200, 'the compiled client module is served')
})

t.test('rooms and history over HTTP', async (t) => {
  const app = await build(t, { HISTORY_SIZE: '3' })
  const ws = await app.injectWS('/ws/chat/news?name=Ed')
  t.teardown(() => ws.terminate())
  const seen: number[] = []
  const five = new Promise<void>((resolve) => ws.on('message', (d) => {
    const f = JSON.parse(String(d))
    if (f.type === 'message') { seen.push(f.seq); if (f.seq === 5) resolve() }
  }))
  for (let i = 1; i <= 5; i++) ws.send(`n${i}`)
  await five
  const list = (await app.inject('/rooms')).json()
  t.match(list, [{ room: 'news', members: 1, seq: 5 }])
  const detail = (await app.inject('/rooms/news')).json()
  t.match(detail, { room: 'news', members: ['Ed'], seq: 5 })
  const hist = (await app.inject(`/rooms/news/history?since=3&epoch=${detail.epoch as string}`)).json()
  t.same(hist.messages.map((m: { seq: number }) => m.seq), [4, 5])
  t.equal(hist.truncated, false)
  const lost = (await app.inject('/rooms/news/history?since=0')).json()
  t.equal(lost.truncated, true)
  const page = (await app.inject('/rooms/news/history?since=2&limit=1')).json()
  t.same(page.messages.map((m: { seq: number }) => m.seq), [3])
  t.equal((await app.inject('/rooms/bad%20name')).statusCode, 400)
  t.equal((await app.inject('/rooms/news/history?limit=0')).statusCode, 400)
  const empty = await app.inject('/rooms/nobody-here')
  t.equal(empty.statusCode, 404)
  t.same(empty.json(), { statusCode: 404, error: 'Not Found', message: 'no room nobody-here' })
})

t.test('reads of rooms the hub does not hold are 404 and create nothing', async (t) => {
  const app = await build(t)
  const before = (await app.hub.store.rooms()).rooms.length
  for (let i = 0; i < 300; i++) {
    const detail = await app.inject(`/rooms/ghost-${i}`)
    t.equal(detail.statusCode, 404)
    t.same(detail.json(), { statusCode: 404, error: 'Not Found', message: `no room ghost-${i}` })
    const hist = await app.inject(`/rooms/ghost-h${i}/history?since=5&epoch=x`)
    t.equal(hist.statusCode, 404)
    t.same(hist.json(), { statusCode: 404, error: 'Not Found', message: `no room ghost-h${i}` })
  }
  t.equal((await app.hub.store.rooms()).rooms.length, before, '600 reads of distinct names left the room count unchanged')
  t.same((await app.inject('/rooms')).json(), [])
})

t.test('GET /rooms: a bare array, the next page in Link and X-Next-Cursor', async (t) => {
  const app = await build(t, { API_TOKEN: TOKEN })
  const auth = { authorization: `Bearer ${TOKEN}` }
  for (const room of ['r3', 'r1', 'r2']) {
    t.equal((await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { text: 'x' }, headers: auth })).statusCode, 201)
  }
  const first = await app.inject('/rooms?limit=2')
  t.match(first.json(), [{ room: 'r1', seq: 1, members: 0 }, { room: 'r2', seq: 1 }])
  t.equal(first.json().length, 2)
  t.equal(first.headers['x-next-cursor'], 'r2')
  t.equal(first.headers.link, '</rooms?cursor=r2&limit=2>; rel="next"')
  const second = await app.inject('/rooms?limit=2&cursor=r2')
  t.match(second.json(), [{ room: 'r3' }])
  t.equal(second.headers['x-next-cursor'], undefined, 'the last page has no next')
  t.equal(second.headers.link, undefined)
  t.equal((await app.inject('/rooms')).json().length, 3, 'the default limit (100) holds them all')
  t.equal((await app.inject('/rooms?limit=1001')).statusCode, 400, 'limit above 1000')
  t.equal((await app.inject('/rooms?limit=0')).statusCode, 400)
  t.equal((await app.inject('/rooms?cursor=bad%20name')).statusCode, 400)
})

t.test('HTTP publish: token rules and broadcast like a member', async (t) => {
  const app = await build(t, { API_TOKEN: TOKEN })
  const ws = await app.injectWS('/ws/chat/ops?name=Op')
  t.teardown(() => ws.terminate())
  const got = new Promise<Record<string, unknown>>((resolve) => ws.on('message', (d) => {
    const f = JSON.parse(String(d))
    if (f.type === 'message') resolve(f)
  }))
  const body = { text: 'deploy done', from: 'ci' }
  t.equal((await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: body })).statusCode, 401, 'missing token')
  const wrong = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: body, headers: { authorization: 'Bearer nope' } })
  t.equal(wrong.statusCode, 401, 'wrong token')
  t.equal(wrong.headers['www-authenticate'], 'Bearer')
  const ok = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: body, headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(ok.statusCode, 201)
  t.match(ok.json(), { seq: 1, duplicate: false })
  t.match(await got, { type: 'message', room: 'ops', from: 'ci', text: 'deploy done', seq: 1, id: ok.json().id })
  const auth = { authorization: `Bearer ${TOKEN}` }
  const tooLong = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: { text: 'x'.repeat(2001) }, headers: auth })
  t.equal(tooLong.statusCode, 400)
  const extra = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: { text: 'x', admin: true }, headers: auth })
  t.equal(extra.statusCode, 201, 'unknown fields are dropped (Fastify removeAdditional), not published')
  const first = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: { text: 'y', cid: 'job-7' }, headers: auth })
  const retry = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: { text: 'y', cid: 'job-7' }, headers: auth })
  t.equal(first.statusCode, 201)
  t.equal(retry.statusCode, 200)
  t.equal(retry.json().id, first.json().id, 'an HTTP retry with the same cid is not published twice')
  const defaultFrom = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: { text: 'z' }, headers: auth })
  t.equal(defaultFrom.statusCode, 201)
})

t.test('API_TOKEN: the Bearer scheme in any case, with extra spaces', async (t) => {
  const app = await build(t, { API_TOKEN: TOKEN })
  for (const header of [`bearer ${TOKEN}`, `BEARER ${TOKEN}`, `Bearer   ${TOKEN}`]) {
    const res = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: { text: 'x' }, headers: { authorization: header } })
    t.equal(res.statusCode, 201, `${header.slice(0, 9)}…: publish`)
    t.equal((await app.inject({ url: '/connections', headers: { authorization: header } })).statusCode, 200, `${header.slice(0, 9)}…: admin`)
  }
  for (const header of [`Bearer${TOKEN}`, `Basic ${TOKEN}`, `Bearer ${TOKEN} x`]) {
    t.equal((await app.inject({ url: '/connections', headers: { authorization: header } })).statusCode, 401, JSON.stringify(header.slice(0, 9)))
  }
})

/**
 * Sends a request's headers and only `sent` bytes of its declared body over a raw socket; resolves with the
 * status and JSON body of the answer, which must come without the rest of the body.
 */
async function answerBeforeBody (port: number, head: string, sent: number): Promise<{ status: number, body: Record<string, unknown> }> {
  const sock = tcpConnect(port, '127.0.0.1')
  await once(sock, 'connect')
  sock.write(`${head}\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{"text":"${'a'.repeat(sent)}`)
  let raw = ''
  const timer = setTimeout(() => sock.destroy(new Error(`no answer before the body: ${JSON.stringify(raw)}`)), 5000)
  try {
    for await (const chunk of sock) {
      raw += String(chunk)
      const split = raw.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(raw)?.[1]
      if (split !== -1 && length !== undefined && Buffer.byteLength(raw.slice(split + 4)) >= Number(length)) break
    }
  } finally {
    clearTimeout(timer)
    sock.destroy()
  }
  const split = raw.indexOf('\r\n\r\n')
  return { status: Number(raw.slice(9, 12)), body: JSON.parse(raw.slice(split + 4)) as Record<string, unknown> }
}

t.test('token checks answer before the body is read: a 1 MiB body without a token gets 401/403 at once', async (t) => {
  const withToken = await listen(t, { API_TOKEN: TOKEN })
  const publish = await answerBeforeBody(withToken.port, 'POST /rooms/ops/messages HTTP/1.1', 1000)
  t.equal(publish.status, 401, 'publish without a token: 401 (not 413, which the body limit would say after the token check)')
  t.match(publish.body, { statusCode: 401, error: 'Unauthorized' })
  const wrong = await answerBeforeBody(withToken.port, `POST /rooms/ops/messages HTTP/1.1\r\nAuthorization: Bearer ${'w'.repeat(26)}`, 1000)
  t.equal(wrong.status, 401, 'a wrong token: 401')
  const admin = await answerBeforeBody(withToken.port, 'DELETE /connections/some-id HTTP/1.1', 1000)
  t.equal(admin.status, 401, 'admin API, within its body limit: 401 without waiting for the body')
  const without = await listen(t)
  const disabled = await answerBeforeBody(without.port, 'POST /rooms/ops/messages HTTP/1.1', 1000)
  t.equal(disabled.status, 403, 'no API_TOKEN configured: 403')
  t.match(disabled.body, { statusCode: 403, error: 'Forbidden', message: /API_TOKEN/ })
  const adminOff = await answerBeforeBody(without.port, 'DELETE /connections/some-id HTTP/1.1', 1000)
  t.equal(adminOff.status, 403)
})

t.test('publish body limit: every valid message fits, a larger body gets 413 with the JSON error', async (t) => {
  const app = await build(t, { API_TOKEN: TOKEN, CHAT_MAX_LENGTH: '100', MAX_DATA_BYTES: '100' })
  const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }
  const post = async (payload: string) => await app.inject({ method: 'POST', url: '/rooms/big/messages', payload, headers })
  const escaped = (n: number) => '\\ud83d\\ude00'.repeat(n) // an astral code point as JSON's 12-byte escape pair
  // the longest text, every code point escaped, with a name and a cid also fully escaped
  const largest = `{"text":"${escaped(100)}","from":"${escaped(32)}","cid":"${'\\u0041'.repeat(64)}"}`
  const ok = await post(largest)
  t.equal(ok.statusCode, 201, `the largest valid message (${largest.length} bytes) is accepted`)
  // the envelope's own bound: from at its schema maximum (refused by the name rule, not by the body limit)
  const longFrom = await post(`{"text":"${escaped(100)}","from":"${'\\u0041'.repeat(256)}","cid":"${'\\u0041'.repeat(64)}"}`)
  t.equal(longFrom.statusCode, 400, 'a maximal envelope reaches validation')
  // data of MAX_DATA_BYTES as the server writes it, every character escaped by the caller: within the limit too
  const largestData = `{"data":"${'\\u0041'.repeat(98)}","event":"${'\\u0041'.repeat(64)}","cid":"${'\\u0041'.repeat(64)}"}`
  t.equal((await post(largestData)).statusCode, 201, 'the largest valid data is accepted')
  t.equal((await post(`{"data":"${'A'.repeat(99)}"}`)).statusCode, 400, 'data over MAX_DATA_BYTES is refused')
  const limit = Math.max(12 * 100, 6 * 100) + 4096
  const over = await post(`{"text":"${'x'.repeat(limit)}"}`)
  t.equal(over.statusCode, 413, `a body over ${limit} bytes`)
  t.same(Object.keys(over.json()).sort(), ['error', 'message', 'statusCode'])
  t.match(over.json(), { statusCode: 413, error: 'Payload Too Large', message: /body/i })
  const justUnder = await post(`{"text":"${'x'.repeat(limit - 11)}"}`)
  t.equal(justUnder.statusCode, 400, `a body of exactly ${limit} bytes is read (then refused as too long a text)`)
  const media = await app.inject({ method: 'POST', url: '/rooms/big/messages', payload: 'text', headers: { ...headers, 'content-type': 'text/csv' } })
  t.same(media.json().error, 'Unsupported Media Type', 'error names come from the status, not the error class')
  t.equal(media.statusCode, 415)
})

t.test('HTTP publish without API_TOKEN is 403 and says why', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/rooms/ops/messages', payload: { text: 'x' }, headers: { authorization: 'Bearer anything-at-all-1234' } })
  t.equal(res.statusCode, 403)
  t.match(res.json().message, /API_TOKEN/)
})

t.test('upgrade refusals on a real server: 400, 403, 404, 503', async (t) => {
  const { app, ws: base, http } = await listen(t, { MAX_CONNECTIONS: '2', ALLOWED_ORIGINS: 'https://app.example.com' })
  t.equal(await upgradeStatus(`${base}/ws/chat/bad%20room`), 400)
  t.equal(await upgradeStatus(`${base}/ws/time?interval=5`), 400)
  t.equal(await upgradeStatus(`${base}/nope`), 404)
  t.equal(await upgradeStatus(`${base}/`), 404, 'a path the static handler serves is still 404 for an upgrade')
  t.equal(await upgradeStatus(`${base}/index.html`), 404)
  t.equal(await upgradeStatus(`${base}/health`), 404)
  t.equal(await upgradeStatus(`${base}/ws/echo`, { origin: 'https://evil.example.com' }), 403)
  const own = await connect(t, `${base}/ws/echo`, { origin: http })
  const listed = await connect(t, `${base}/ws/echo`, { origin: 'https://app.example.com' })
  t.equal(app.registry.size, 2, 'own host and listed origins are allowed')
  t.equal(await upgradeStatus(`${base}/ws/echo`), 503, 'over MAX_CONNECTIONS')
  own.ws.close(); listed.ws.close()
})
