import t, { type Test } from 'tap'
import { connect, listen } from '../helper.js'
import { mint } from '../../src/token.js'

const SECRET = 'hub-test-secret-0123456789abcdef-xyz'
const KEY = { alg: 'HS256' as const, key: new TextEncoder().encode(SECRET) }
const JWT = { AUTH_MODE: 'jwt', JWT_SECRET: SECRET }
const API = 'hub-test-api-token-0123456789'

async function token (sub: string, rooms?: string[]): Promise<string> {
  return await mint(KEY, { sub, ttlSeconds: 3600, rooms })
}

type Frame = Record<string, unknown>

/** A client of the hub protocol: `request` sends a frame with a fresh ref and resolves with the reply carrying it. */
async function client (t: Test, url: string) {
  const c = await connect(t, url)
  let next = 0
  const request = async (frame: Frame): Promise<Frame> => {
    const ref = `r${++next}`
    const reply = c.frames.next((f) => f.ref === ref)
    c.ws.send(JSON.stringify({ ...frame, ref }))
    return await reply
  }
  return { ...c, request }
}

t.test('/ws/hub: subscribe, publish data with an event, ack by ref, per-room delivery, unsubscribe', async (t) => {
  const { ws: base } = await listen(t)
  const a = await client(t, `${base}/ws/hub?name=Ann`)
  const b = await client(t, `${base}/ws/hub?name=Bob`)
  t.match(await a.request({ type: 'subscribe', room: 'prices' }), { type: 'subscribed', room: 'prices', seq: 0, members: ['Ann'], memberCount: 1, history: [] })
  t.match(await b.request({ type: 'subscribe', room: 'prices' }), { type: 'subscribed', room: 'prices', memberCount: 2 })
  t.match(await b.request({ type: 'subscribe', room: 'other' }), { type: 'subscribed', room: 'other' })
  t.match(await a.frames.next('join'), { room: 'prices', name: 'Bob' })
  const ack = await a.request({ type: 'publish', room: 'prices', event: 'price', data: { sym: 'X', px: [1.5, null] }, cid: 'k1' })
  t.match(ack, { type: 'ack', room: 'prices', seq: 1, cid: 'k1', id: String, epoch: String })
  const msg = await b.frames.next('message')
  t.match(msg, { type: 'message', room: 'prices', seq: 1, from: 'Ann', event: 'price', data: { sym: 'X', px: [1.5, null] }, id: ack.id })
  t.notOk('text' in msg, 'a data message has no text')
  t.same(await a.request({ type: 'publish', room: 'prices', event: 'price', data: { sym: 'X', px: [1.5, null] }, cid: 'k1' }), { ...ack, ref: 'r3' }, 'a retried cid gets the original ack')
  t.match(await b.request({ type: 'publish', room: 'other', text: 'hi' }), { type: 'ack', room: 'other', seq: 1 })
  t.match(await b.request({ type: 'unsubscribe', room: 'prices' }), { type: 'unsubscribed', room: 'prices' })
  t.match(await a.frames.next('leave'), { room: 'prices', name: 'Bob' })
  t.match(await a.request({ type: 'publish', room: 'prices', text: 'after' }), { type: 'ack', seq: 2 })
  t.match(await b.request({ type: 'publish', room: 'prices', text: 'x' }), { type: 'error', code: 'not_subscribed' })
  t.match(await b.request({ type: 'unsubscribe', room: 'prices' }), { type: 'error', code: 'not_subscribed' })
  t.same(b.frames.all('message').map((m) => [m.room, m.seq]), [['prices', 1], ['other', 1]], 'nothing of a room after leaving it')
  t.same(a.frames.all('message').map((m) => [m.room, m.seq]), [['prices', 1], ['prices', 2]], 'a publisher gets its own broadcasts too (before their acks)')
})

t.test('/ws/hub: every bad frame gets an error with its ref', async (t) => {
  const { ws: base } = await listen(t, { CHAT_MAX_LENGTH: '10', MAX_DATA_BYTES: '32', MAX_SUBSCRIPTIONS_PER_SOCKET: '2' })
  const c = await client(t, `${base}/ws/hub`)
  t.match(await c.request({ type: 'ping' }), { type: 'pong', ts: Number })
  t.match(await c.request({ type: 'dance' }), { type: 'error', code: 'unknown_type' })
  t.match(await c.request({ type: 'subscribe', room: 'bad room' }), { type: 'error', code: 'invalid' })
  t.match(await c.request({ type: 'subscribe', room: 'a', since: -1 }), { type: 'error', code: 'invalid' })
  t.match(await c.request({ type: 'subscribe', room: 'a' }), { type: 'subscribed' })
  t.match(await c.request({ type: 'subscribe', room: 'b' }), { type: 'subscribed' })
  t.match(await c.request({ type: 'subscribe', room: 'c' }), { type: 'error', code: 'too_many_subscriptions' })
  t.match(await c.request({ type: 'publish', room: 'a', text: 'x', data: 1 }), { type: 'error', code: 'invalid' }, 'both bodies')
  t.match(await c.request({ type: 'publish', room: 'a' }), { type: 'error', code: 'invalid' }, 'no body')
  t.match(await c.request({ type: 'publish', room: 'a', text: 'x'.repeat(11) }), { type: 'error', code: 'too_long' })
  t.match(await c.request({ type: 'publish', room: 'a', data: 'x'.repeat(31) }), { type: 'error', code: 'too_large' })
  t.match(await c.request({ type: 'publish', room: 'a', data: 'x'.repeat(30) }), { type: 'ack', seq: 1 }, 'data of exactly MAX_DATA_BYTES')
  t.match(await c.request({ type: 'publish', room: 'a', text: 'x', event: 'no spaces' }), { type: 'error', code: 'invalid' })
  t.match(await c.request({ type: 'signal', room: 'a' }), { type: 'error', code: 'invalid' }, 'a signal needs an event')
  t.match(await c.request({ type: 'subscribe', room: '@someone' }), { type: 'error', code: 'forbidden' }, 'no personal stream without a user')
  const noRoom = c.frames.next('error')
  c.ws.send('plain text')
  t.match(await noRoom, { code: 'invalid', message: /room/ }, 'a hub socket has no room for plain text')
  const badRef = c.frames.next('error')
  c.ws.send(JSON.stringify({ type: 'ping', ref: 'x'.repeat(65) }))
  t.match(await badRef, { code: 'invalid', message: /ref/ })
  t.notOk('ref' in (await badRef), 'an invalid ref is not echoed')
  t.match(await c.request({ type: 'ping' }), { type: 'pong' }, 'still open')
})

t.test('resume per room: subscribe with since and epoch gets what followed; a foreign epoch is truncated', async (t) => {
  const { ws: base } = await listen(t)
  const a = await client(t, `${base}/ws/hub`)
  await a.request({ type: 'subscribe', room: 'r' })
  let epoch = ''
  for (const text of ['one', 'two', 'three']) epoch = String((await a.request({ type: 'publish', room: 'r', text })).epoch)
  const b = await client(t, `${base}/ws/hub`)
  const resumed = await b.request({ type: 'subscribe', room: 'r', since: 1, epoch })
  t.same((resumed.history as Frame[]).map((m) => m.text), ['two', 'three'])
  t.equal(resumed.truncated, undefined)
  const again = await b.request({ type: 'subscribe', room: 'r', since: 2, epoch })
  t.same((again.history as Frame[]).map((m) => m.seq), [3], 'subscribing again to a room held is a resume')
  const foreign = await b.request({ type: 'subscribe', room: 'r', since: 2, epoch: 'not-this-one' })
  t.equal(foreign.truncated, true)
  t.same((foreign.history as Frame[]).map((m) => m.seq), [1, 2, 3])
})

t.test('signals reach the other members at once, never the sender, never history', async (t) => {
  const { ws: base } = await listen(t)
  const a = await client(t, `${base}/ws/hub?name=Ann`)
  const b = await client(t, `${base}/ws/chat/r?name=Bob`)
  await b.frames.next('welcome')
  await a.request({ type: 'subscribe', room: 'r' })
  const got = b.frames.next('signal')
  t.match(await a.request({ type: 'signal', room: 'r', event: 'typing', data: { on: true } }), { type: 'ack', room: 'r' })
  t.same(await got, { type: 'signal', room: 'r', from: 'Ann', event: 'typing', data: { on: true } })
  t.match(await b.request({ type: 'signal', room: 'r', event: 'typing' }), { type: 'ack' })
  t.same(await a.frames.next('signal'), { type: 'signal', room: 'r', from: 'Bob', event: 'typing' })
  t.equal(a.frames.all('signal').length, 1, 'not echoed to its sender')
  t.match(await a.request({ type: 'signal', room: 'x', event: 'typing' }), { type: 'error', code: 'not_subscribed' })
  const c = await client(t, `${base}/ws/hub`)
  t.match(await c.request({ type: 'subscribe', room: 'r' }), { seq: 0, history: [] }, 'no seq, nothing held')
})

t.test('/ws/chat keeps its protocol and speaks the hub frames too', async (t) => {
  const { ws: base } = await listen(t)
  const c = await client(t, `${base}/ws/chat/home?name=Cat`)
  t.match(c.frames.seen[0] ?? await c.frames.next('welcome'), { type: 'welcome', room: 'home' }, 'the welcome comes first')
  c.ws.send('hello home')
  t.match(await c.frames.next('message'), { room: 'home', text: 'hello home', seq: 1 })
  t.match(await c.request({ type: 'subscribe', room: 'away' }), { type: 'subscribed', room: 'away' })
  t.match(await c.request({ type: 'message', room: 'away', text: 'hi away' }), { type: 'ack', room: 'away', seq: 1 }, 'a chat message with a room and a ref')
  t.match(await c.request({ type: 'message', text: 'hi home' }), { type: 'ack', room: 'home', seq: 2 }, 'without a room: the URL room')
  t.match(await c.request({ type: 'unsubscribe', room: 'home' }), { type: 'unsubscribed' })
  t.match(await c.request({ type: 'message', text: 'gone' }), { type: 'error', code: 'not_subscribed' })
})

t.test('HTTP publish takes data and event; the body needs exactly one of data and text', async (t) => {
  const { app, ws: base } = await listen(t, { API_TOKEN: API })
  const c = await client(t, `${base}/ws/hub`)
  await c.request({ type: 'subscribe', room: 'feed' })
  const post = async (payload: object) => await app.inject({ method: 'POST', url: '/rooms/feed/messages', payload, headers: { authorization: `Bearer ${API}` } })
  const res = await post({ event: 'tick', data: [1, { a: 'b' }], cid: 'h1' })
  t.equal(res.statusCode, 201)
  t.match(await c.frames.next('message'), { room: 'feed', from: 'server', event: 'tick', data: [1, { a: 'b' }], seq: res.json().seq })
  t.equal((await post({ event: 'tick', data: [1, { a: 'b' }], cid: 'h1' })).statusCode, 200, 'a repeated cid')
  t.equal((await post({ text: 'x', data: 1 })).statusCode, 400)
  t.equal((await post({ from: 'ops' })).statusCode, 400)
  t.equal((await post({ text: 'x', event: 'bad event' })).statusCode, 400)
  const history = (await app.inject('/rooms/feed/history')).json()
  t.match(history.messages, [{ event: 'tick', data: [1, { a: 'b' }] }], 'data is held and read back')
})

t.test('personal streams: every socket of a user gets POST /users/:id/messages; nobody else reads or writes them', async (t) => {
  const { app, ws: base } = await listen(t, { ...JWT, API_TOKEN: API })
  const alice = await token('alice', ['lobby', 'team-*'])
  const hub = await client(t, `${base}/ws/hub?token=${alice}`)
  const chat = await client(t, `${base}/ws/chat/team-a?token=${alice}`)
  t.match(await hub.frames.next('subscribed'), { room: '@alice', seq: 0, history: [] }, 'subscribed without asking')
  t.notOk('ref' in (hub.frames.all('subscribed')[0] ?? {}))
  t.match(await chat.frames.next('welcome'), { room: 'team-a' })
  t.match(await chat.frames.next('subscribed'), { room: '@alice' }, 'after the welcome')
  const bob = await client(t, `${base}/ws/hub?token=${await token('bob')}`)
  await bob.frames.next('subscribed')
  const post = async (user: string, payload: object) => await app.inject({ method: 'POST', url: `/users/${user}/messages`, payload, headers: { authorization: `Bearer ${API}` } })
  const res = await post('alice', { event: 'notice', data: { n: 1 } })
  t.equal(res.statusCode, 201)
  const expected = { type: 'message', room: '@alice', seq: 1, from: 'server', event: 'notice', data: { n: 1 } }
  t.match(await hub.frames.next('message'), expected)
  t.match(await chat.frames.next('message'), expected)
  t.equal((await post('alice', { text: 'two' })).statusCode, 201)
  t.match(await hub.frames.next('message'), { room: '@alice', seq: 2, text: 'two' })
  t.equal(bob.frames.all('message').length, 0, 'bob got none of it')
  t.match(await bob.request({ type: 'subscribe', room: '@alice' }), { type: 'error', code: 'forbidden' })
  t.match(await hub.request({ type: 'publish', room: '@alice', text: 'me' }), { type: 'error', code: 'forbidden' }, 'written by the server only')
  t.match(await hub.request({ type: 'signal', room: '@alice', event: 'x' }), { type: 'error', code: 'forbidden' })
  t.match(await hub.request({ type: 'subscribe', room: 'secret' }), { type: 'error', code: 'forbidden' }, 'the token\'s rooms claim')
  t.match(await hub.request({ type: 'subscribe', room: 'team-b' }), { type: 'subscribed' })
  t.match(await hub.request({ type: 'refresh', token: await token('alice', ['secret']) }), { type: 'refreshed', exp: Number }, 'a refresh answers with its ref')
  t.match(await hub.request({ type: 'subscribe', room: 'secret' }), { type: 'subscribed' }, 'later subscriptions follow the new token\'s claim')
  t.match(await hub.request({ type: 'subscribe', room: 'team-c' }), { type: 'error', code: 'forbidden' })
  const resumed = await hub.request({ type: 'subscribe', room: '@alice', since: 1, epoch: res.json().epoch })
  t.same((resumed.history as Frame[]).map((m) => m.seq), [2], 'resumed like a room')
  const list = (await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${API}` } })).json() as Array<{ room: string }>
  t.notOk(list.some((r) => r.room.startsWith('@')), 'personal streams are not listed')
  t.equal((await app.inject({ method: 'POST', url: '/users/alice/messages', payload: { text: 'x' } })).statusCode, 401, 'the API token is required')
})

t.test('POST /users/:id/messages says why when authentication is off', async (t) => {
  const { app } = await listen(t, { API_TOKEN: API })
  const res = await app.inject({ method: 'POST', url: '/users/alice/messages', payload: { text: 'x' }, headers: { authorization: `Bearer ${API}` } })
  t.equal(res.statusCode, 404)
  t.match(res.json().message, /AUTH_MODE=jwt/)
})
