import { request } from 'node:http'
import t, { type Test } from 'tap'
import { build, connect, Frames, listen } from '../helper.js'
import type { FastifyInstance } from 'fastify'

/** Joins through injectWS with a frame reader attached before the welcome can arrive. */
async function join (t: Test, app: FastifyInstance, path: string) {
  let frames: Frames | undefined
  const ws = await app.injectWS(path, {}, { onInit: (w) => { frames = new Frames(w) } })
  t.teardown(() => ws.terminate())
  const reader = frames as Frames
  const welcome = await reader.next('welcome')
  return { ws, frames: reader, welcome }
}

t.test('welcome, join, message to every member, leave (real server)', async (t) => {
  const { ws: base } = await listen(t)
  const ann = await connect(t, `${base}/ws/chat/room1?name=Ann`)
  const annWelcome = await ann.frames.next('welcome')
  t.match(annWelcome, { type: 'welcome', name: 'Ann', room: 'room1', members: ['Ann'], seq: 0, history: [] })
  t.type(annWelcome.id, 'string')
  t.type(annWelcome.epoch, 'string')
  const bob = await connect(t, `${base}/ws/chat/room1?name=%20Bob%20`)
  t.same((await bob.frames.next('welcome')).members, ['Ann', 'Bob'])
  t.match(await ann.frames.next('join'), { type: 'join', room: 'room1', name: 'Bob' })

  bob.ws.send(JSON.stringify({ type: 'message', text: 'hello <b>all</b>' }))
  for (const who of [ann, bob]) {
    const m = await who.frames.next('message')
    t.match(m, { type: 'message', room: 'room1', from: 'Bob', text: 'hello <b>all</b>', seq: 1 })
    t.type(m.id, 'string'); t.type(m.ts, 'number')
  }
  bob.ws.close()
  t.match(await ann.frames.next('leave'), { type: 'leave', room: 'room1', name: 'Bob' })
  t.equal(bob.frames.all('join').length, 0, 'the newcomer gets a welcome, not its own join')
})

t.test('a broadcast is framed once and written to each socket as it is, not re-framed by ws.send', async (t) => {
  const { app, ws: base } = await listen(t)
  const a = await connect(t, `${base}/ws/chat/framed?name=a`)
  const b = await connect(t, `${base}/ws/chat/framed?name=b`)
  await a.frames.next('welcome')
  await b.frames.next('welcome')
  // spy on both paths of every server-side socket: ws's send and the raw stream under it
  const sends: number[] = []
  const writes: Buffer[][] = []
  for (const conn of app.registry.values()) {
    const socket = conn.socket as unknown as { send: (...args: unknown[]) => unknown, _socket: { write: (...args: unknown[]) => unknown } }
    const mine: Buffer[] = []
    writes.push(mine)
    sends.push(0)
    const i = sends.length - 1
    const send = socket.send
    socket.send = function (this: unknown, ...args: unknown[]) { sends[i]!++; return send.apply(this, args) }
    const write = socket._socket.write
    socket._socket.write = function (this: unknown, ...args: unknown[]) { mine.push(args[0] as Buffer); return write.apply(this, args) }
  }
  a.ws.send(JSON.stringify({ type: 'message', text: 'once' }))
  t.equal((await a.frames.next('message')).text, 'once')
  t.equal((await b.frames.next('message')).text, 'once')
  t.same(sends, [0, 0], 'ws.send was not used for the broadcast')
  t.equal(writes[0]!.length, 1)
  t.equal(writes[1]!.length, 1)
  t.equal(writes[0]![0], writes[1]![0], 'both sockets were given the same buffer')
})

t.test('default room is lobby; guest names are generated', async (t) => {
  const app = await build(t)
  const c = await join(t, app, '/ws/chat')
  t.equal(c.welcome.room, 'lobby')
  t.match(c.welcome.name, /^guest-[0-9a-f]{4}$/)
})

t.test('plain text is a message; ping gets pong; bad frames get errors and stay open', async (t) => {
  const app = await build(t, { CHAT_MAX_LENGTH: '10' })
  const c = await join(t, app, '/ws/chat/r?name=Cy')
  c.ws.send('hello')
  t.match(await c.frames.next('message'), { text: 'hello', seq: 1 })
  c.ws.send('{"type":"ping"}')
  t.type((await c.frames.next('pong')).ts, 'number')
  c.ws.send('{"type":"shout","text":"x"}')
  t.match(await c.frames.next('error'), { code: 'unknown_type' })
  c.ws.send('{"type":"message"}')
  t.match(await c.frames.next('error'), { code: 'invalid' })
  c.ws.send('{"type":"message","text":"01234567890","cid":"long"}')
  t.match(await c.frames.next('error'), { code: 'too_long', cid: 'long' })
  c.ws.send('{"type":"message","text":"after"}')
  t.match(await c.frames.next('message'), { text: 'after', seq: 2 }, 'refused frames were not broadcast and used no seq')
})

t.test('messages never cross rooms', async (t) => {
  const app = await build(t)
  const a = await join(t, app, '/ws/chat/a?name=A')
  const b = await join(t, app, '/ws/chat/b?name=B')
  a.ws.send('in a')
  b.ws.send('in b')
  t.match(await a.frames.next('message'), { text: 'in a', room: 'a' })
  t.match(await b.frames.next('message'), { text: 'in b', room: 'b' })
  a.ws.send('ping a'); b.ws.send('ping b')
  await a.frames.next((f) => f.text === 'ping a')
  await b.frames.next((f) => f.text === 'ping b')
  t.notOk(a.frames.seen.some((f) => f.room === 'b'))
  t.notOk(b.frames.seen.some((f) => f.room === 'a'))
})

t.test('bad room or name: 400 before the upgrade', async (t) => {
  const app = await build(t)
  for (const path of ['/ws/chat/bad%20room', `/ws/chat/${'x'.repeat(65)}`, '/ws/chat/r?name=', '/ws/chat/r?name=%07bell',
    `/ws/chat/r?name=${'n'.repeat(33)}`, '/ws/chat/r?since=-1', '/ws/chat/r?since=abc']) {
    await t.rejects(app.injectWS(path), /Unexpected server response: 400/, path)
  }
})

t.test('acks and duplicate cids', async (t) => {
  const app = await build(t)
  const a = await join(t, app, '/ws/chat/r?name=A')
  const b = await join(t, app, '/ws/chat/r?name=B')
  a.ws.send(JSON.stringify({ type: 'message', text: 'once', cid: 'c-1' }))
  const ack = await a.frames.next('ack')
  const msg = a.frames.all('message')[0]!
  t.match(ack, { type: 'ack', cid: 'c-1', seq: 1, id: msg.id, epoch: a.welcome.epoch })
  a.ws.send(JSON.stringify({ type: 'message', text: 'once', cid: 'c-1' }))
  const again = await a.frames.next('ack')
  t.same(again, ack, 'the retry gets the original ack')
  b.ws.send('marker')
  await b.frames.next((f) => f.text === 'marker')
  t.equal(b.frames.all('message').length, 2, 'the retry was not broadcast')
  t.same(b.frames.all('message').map((m) => m.seq), [1, 2])
})

t.test('history and resume with since/epoch', async (t) => {
  const app = await build(t, { HISTORY_SIZE: '3' })
  const a = await join(t, app, '/ws/chat/h?name=A')
  for (let i = 1; i <= 5; i++) a.ws.send(`m${i}`)
  await a.frames.next((f) => f.seq === 5)
  const epoch = a.welcome.epoch as string
  const fresh = await join(t, app, '/ws/chat/h?name=F')
  t.same((fresh.welcome.history as Array<{ seq: number }>).map((m) => m.seq), [3, 4, 5])
  t.equal(fresh.welcome.seq, 5)
  t.equal(fresh.welcome.truncated, undefined)
  const resumed = await join(t, app, `/ws/chat/h?name=R&since=3&epoch=${epoch}`)
  t.same((resumed.welcome.history as Array<{ seq: number }>).map((m) => m.seq), [4, 5])
  t.equal(resumed.welcome.truncated, undefined)
  const gap = await join(t, app, `/ws/chat/h?name=G&since=1&epoch=${epoch}`)
  t.equal(gap.welcome.truncated, true)
  t.same((gap.welcome.history as Array<{ seq: number }>).map((m) => m.seq), [3, 4, 5])
  const stale = await join(t, app, '/ws/chat/h?name=S&since=4&epoch=old-epoch')
  t.equal(stale.welcome.truncated, true)
  t.same((stale.welcome.history as Array<{ seq: number }>).map((m) => m.seq), [3, 4, 5])
})

t.test('rate limit: over the burst is refused, not broadcast', async (t) => {
  const app = await build(t, { CHAT_RATE_PER_SEC: '1', CHAT_RATE_BURST: '3' })
  const c = await join(t, app, '/ws/chat/rl?name=R')
  for (let i = 0; i < 5; i++) c.ws.send(JSON.stringify({ type: 'message', text: `x${i}`, cid: `k${i}` }))
  const e1 = await c.frames.next('error')
  const e2 = await c.frames.next('error')
  t.match(e1, { code: 'rate_limited', cid: 'k3' })
  t.match(e2, { code: 'rate_limited', cid: 'k4' })
  t.same(c.frames.all('message').map((m) => m.text), ['x0', 'x1', 'x2'])
})

t.test('the message budget follows the client: across reconnects, and time sockets\' refresh frames spend it', async (t) => {
  const app = await build(t, { CHAT_RATE_PER_SEC: '0.001', CHAT_RATE_BURST: '3' })
  const first = await join(t, app, '/ws/chat/budget?name=A')
  for (let i = 0; i < 2; i++) first.ws.send(JSON.stringify({ type: 'message', text: `a${i}`, cid: `a${i}` }))
  await first.frames.next((f) => f.type === 'ack' && f.cid === 'a1')
  first.ws.terminate()
  const again = await join(t, app, '/ws/chat/budget?name=A')
  again.ws.send(JSON.stringify({ type: 'message', text: 'b0', cid: 'b0' }))
  again.ws.send(JSON.stringify({ type: 'message', text: 'b1', cid: 'b1' }))
  // the refusal is answered at once, the ack once the store has published
  t.match(await again.frames.next('error'), { code: 'rate_limited', cid: 'b1' }, 'the fourth message is over: reconnecting did not refill the budget')
  t.match(await again.frames.next('ack'), { cid: 'b0' }, 'the third, on the new socket, was within the burst')
  const time = await app.injectWS('/ws/time')
  t.teardown(() => time.terminate())
  const frames = new Frames(time)
  time.send(JSON.stringify({ type: 'refresh', token: 'x' }))
  t.match(await frames.next('error'), { code: 'rate_limited' }, 'a refresh on the time socket is over the same budget')
})

t.test('binary frame on chat closes with 1003', async (t) => {
  const app = await build(t)
  const c = await join(t, app, '/ws/chat/b?name=B')
  const closed = new Promise<number>((resolve) => c.ws.on('close', (code) => resolve(code)))
  c.ws.send(Buffer.from([1, 2, 3]))
  t.equal(await closed, 1003)
})

t.test('above PRESENCE_EVENTS_MAX_MEMBERS: no join frames, welcome gives the count, GET /rooms/:room still tells', async (t) => {
  const app = await build(t, { PRESENCE_EVENTS_MAX_MEMBERS: '2' })
  const a = await join(t, app, '/ws/chat/big?name=A')
  const b = await join(t, app, '/ws/chat/big?name=B')
  t.match(await a.frames.next('join'), { name: 'B' })
  const c = await join(t, app, '/ws/chat/big?name=C')
  t.same(c.welcome.members, [])
  t.equal(c.welcome.memberCount, 3)
  b.ws.send('after C')
  await a.frames.next((f) => f.text === 'after C')
  t.equal(a.frames.all('join').length, 1, 'no join frame for the third member')
  t.same((await app.inject('/rooms/big')).json().members, ['A', 'B', 'C'])
})

t.test('MAX_ROOMS: at the cap a new room evicts an empty one; when all have members the upgrade is 503 JSON', async (t) => {
  const { app, port } = await listen(t, { MAX_ROOMS: '2', API_TOKEN: 'test-token-0123456789abcdef' })
  const url = `ws://127.0.0.1:${port}`
  const auth = { authorization: 'Bearer test-token-0123456789abcdef' }
  t.equal((await app.inject({ method: 'POST', url: '/rooms/empty/messages', payload: { text: 'x' }, headers: auth })).statusCode, 201)
  const one = await connect(t, `${url}/ws/chat/one`)
  await one.frames.next('welcome')
  const two = await connect(t, `${url}/ws/chat/two`)
  await two.frames.next('welcome')
  t.same((await app.inject('/rooms')).json().map((r: { room: string }) => r.room), ['one', 'two'], '"empty" was evicted for "two"')
  // the refusal comes before any 101, with the JSON error body
  const refused = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/ws/chat/three', headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d) => { body += String(d) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('upgrade', () => reject(new Error('upgraded')))
    req.on('error', reject)
    req.end()
  })
  t.equal(refused.status, 503)
  t.same(JSON.parse(refused.body), { statusCode: 503, error: 'Service Unavailable', message: 'room limit reached: try again later' })
  const post = await app.inject({ method: 'POST', url: '/rooms/three/messages', payload: { text: 'x' }, headers: auth })
  t.equal(post.statusCode, 503, 'an HTTP publish to a new room is refused too')
  t.same(post.json(), { statusCode: 503, error: 'Service Unavailable', message: 'room limit reached: try again later' })
  const again = await connect(t, `${url}/ws/chat/one`)
  t.match(await again.frames.next('welcome'), { room: 'one' }, 'a held room still takes members')
  t.equal((await app.inject('/rooms')).json().length, 2)
})
