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
  t.equal((await app.inject('/ws/echo')).statusCode, 404, 'a plain GET to a WebSocket route is 404')
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
  const empty = (await app.inject('/rooms/nobody-here')).json()
  t.match(empty, { room: 'nobody-here', members: [], seq: 0 })
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
