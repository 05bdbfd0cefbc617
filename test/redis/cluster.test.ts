import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { closed, connect, listen, type Frames } from '../helper.js'
import { startServer } from '../server-process.js'
import { freePort, RedisServer, requireRedis } from './redis-server.js'
import { mint } from '../../src/token.js'

const TOKEN = 'test-token-0123456789abcdef'

/** N app instances sharing one Redis under a fresh prefix. */
async function cluster (t: Test, redis: RedisServer, n: number, extra: Record<string, string> = {}) {
  const prefix = `t${randomBytes(3).toString('hex')}:`
  const out = []
  for (let i = 0; i < n; i++) {
    out.push(await listen(t, { REDIS_URL: redis.url, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, CHAT_RATE_BURST: '1000', CHAT_RATE_PER_SEC: '1000', ...extra }))
  }
  return { instances: out, prefix }
}

async function joined (t: Test, url: string) {
  const c = await connect(t, url)
  const welcome = await c.frames.next('welcome')
  return { ...c, welcome }
}

const seqs = (f: Frames) => f.all('message').map((m) => m.seq)

t.test('redis cluster', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)

  t.test('cross-instance delivery, presence and HTTP publish, each once', async (t) => {
    const { instances: [a, b, c] } = await cluster(t, redis, 3)
    const ann = await joined(t, `${a!.ws}/ws/chat/x?name=Ann`)
    const bob = await joined(t, `${b!.ws}/ws/chat/x?name=Bob`)
    t.same(bob.welcome.members, ['Ann', 'Bob'], 'members are cluster-wide')
    t.equal(bob.welcome.epoch, ann.welcome.epoch, 'one epoch for the room')
    t.match(await ann.frames.next('join'), { name: 'Bob' })
    bob.ws.send('hi from b')
    t.match(await ann.frames.next('message'), { from: 'Bob', text: 'hi from b', seq: 1 })
    const res = await c!.app.inject({ method: 'POST', url: '/rooms/x/messages', payload: { text: 'from http on c' }, headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(res.statusCode, 201)
    t.match(await ann.frames.next('message'), { text: 'from http on c', seq: 2 })
    t.match(await bob.frames.next((f) => f.seq === 2), { text: 'from http on c' })
    const rooms = (await c!.app.inject('/rooms')).json()
    t.match(rooms, [{ room: 'x', members: 2, seq: 2 }])
    bob.ws.send('marker')
    await ann.frames.next((f) => f.text === 'marker')
    t.same(seqs(ann.frames), [1, 2, 3], 'no duplicates')
    bob.ws.close()
    t.match(await ann.frames.next('leave'), { name: 'Bob' })
  })

  t.test('gapless seq under concurrent publishers on three instances', async (t) => {
    const { instances } = await cluster(t, redis, 3)
    const readers = await Promise.all(instances.map(async (i, n) => await joined(t, `${i.ws}/ws/chat/busy?name=R${n}`)))
    const senders = await Promise.all(instances.map(async (i, n) => await joined(t, `${i.ws}/ws/chat/busy?name=S${n}`)))
    for (let k = 0; k < 30; k++) senders.forEach((s, n) => s.ws.send(JSON.stringify({ type: 'message', text: `m${k}`, cid: `s${n}-c${k}` })))
    const expected = Array.from({ length: 90 }, (_, i) => i + 1)
    for (const r of readers) {
      await r.frames.next((f) => f.seq === 90, 10000)
      t.same(seqs(r.frames), expected, 'every reader: 1..90 in order, once')
    }
    for (const [n, s] of senders.entries()) {
      await s.frames.next((f) => f.type === 'ack' && f.cid === `s${n}-c29`, 10000)
      t.equal(s.frames.all('ack').length, 30)
    }
  })

  t.test('resume on another instance; cid dedupe across instances', async (t) => {
    const { instances: [a, b] } = await cluster(t, redis, 2)
    const first = await joined(t, `${a!.ws}/ws/chat/r?name=Mover`)
    first.ws.send(JSON.stringify({ type: 'message', text: 'one', cid: 'same' }))
    const ack1 = await first.frames.next('ack')
    first.ws.close()
    const other = await joined(t, `${b!.ws}/ws/chat/r?name=Other`)
    other.ws.send('two'); other.ws.send('three')
    await other.frames.next((f) => f.seq === 3)
    const back = await joined(t, `${b!.ws}/ws/chat/r?name=Mover&since=${String(ack1.seq)}&epoch=${String(ack1.epoch)}`)
    t.same((back.welcome.history as Array<{ text: string }>).map((m) => m.text), ['two', 'three'], 'exactly what was missed')
    t.equal(back.welcome.truncated, undefined)
    back.ws.send(JSON.stringify({ type: 'message', text: 'one', cid: 'same' }))
    const ack2 = await back.frames.next('ack')
    t.same(ack2, ack1, 'the retry on another instance gets the original ack')
    other.ws.send('four')
    await other.frames.next((f) => f.text === 'four')
    t.same(seqs(other.frames), [2, 3, 4], 'the retry was not broadcast')
  })

  t.test('a cid dedupes per sender: another sender reusing it is stored and broadcast; retries anywhere get the original', async (t) => {
    const { instances: [a, b] } = await cluster(t, redis, 2)
    const mallory = await joined(t, `${a!.ws}/ws/chat/k?name=Mallory`)
    const alice = await joined(t, `${b!.ws}/ws/chat/k?name=Alice`)
    mallory.ws.send(JSON.stringify({ type: 'message', text: 'first', cid: 'k1' }))
    const mAck = await mallory.frames.next('ack')
    alice.ws.send(JSON.stringify({ type: 'message', text: 'mine', cid: 'k1' }))
    const aAck = await alice.frames.next('ack')
    t.equal(aAck.seq, Number(mAck.seq) + 1, "Alice's k1 is a new message, not Mallory's")
    t.match(await mallory.frames.next((f) => f.type === 'message' && f.text === 'mine'), { from: 'Alice', seq: aAck.seq }, 'and broadcast')
    const held = (await a!.app.inject('/rooms/k/history')).json().messages as Array<{ text: string }>
    t.same(held.map((m) => m.text), ['first', 'mine'], 'both are in history')
    const mallory2 = await joined(t, `${b!.ws}/ws/chat/k?name=Mallory`)
    mallory2.ws.send(JSON.stringify({ type: 'message', text: 'first', cid: 'k1' }))
    t.same(await mallory2.frames.next('ack'), mAck, "Mallory's retry on another socket and instance gets her original ack")
    const alice2 = await joined(t, `${b!.ws}/ws/chat/k?name=Alice`)
    alice2.ws.send(JSON.stringify({ type: 'message', text: 'mine', cid: 'k1' }))
    t.same(await alice2.frames.next('ack'), aAck, "Alice's retry on another socket gets hers")
    const http = async (from: string) => (await a!.app.inject({ method: 'POST', url: '/rooms/k/messages', headers: { authorization: `Bearer ${TOKEN}` }, payload: { text: 'api', cid: 'k1', from } })).json()
    const api = await http('backend')
    t.match(api, { duplicate: false, seq: Number(aAck.seq) + 1 }, 'an API caller is a sender of its own (its from)')
    t.match(await http('backend'), { duplicate: true, seq: api.seq, id: api.id })
    alice.ws.send('marker')
    await mallory.frames.next((f) => f.text === 'marker')
    t.same(seqs(mallory.frames), [1, 2, 3, 4], 'no retry was broadcast')
  })

  t.test('members of an instance that dies disappear within the presence TTL', async (t) => {
    const prefix = `d${randomBytes(3).toString('hex')}:`
    const env = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, PRESENCE_TTL_MS: '900' }
    const survivor = await listen(t, env)
    const doomed = await startServer(t, env)
    const watcher = await joined(t, `${survivor.ws}/ws/chat/d?name=Watcher`)
    const victim = await joined(t, `ws://127.0.0.1:${doomed.port}/ws/chat/d?name=Victim`)
    t.same(victim.welcome.members, ['Watcher', 'Victim'])
    await watcher.frames.next('join')
    const killedAt = Date.now()
    doomed.child.kill('SIGKILL') // no clean leave: only the heartbeat TTL can tell
    t.match(await watcher.frames.next('leave', 5000), { name: 'Victim' })
    const took = Date.now() - killedAt
    t.ok(took < 900 + 900, `leave after ${took} ms (TTL 900 ms + one sweep)`)
    t.same((await survivor.app.inject('/rooms/d')).json().members, ['Watcher'])
  })

  t.test('Redis lost and back: refused while down, resume recovers what others published', async (t) => {
    const own = new RedisServer(await freePort())
    await own.start()
    t.teardown(async () => await own.stop())
    const { instances: [a, b] } = await cluster(t, own, 2)
    const client = await joined(t, `${a!.ws}/ws/chat/f?name=Client`)
    t.equal((await a!.app.inject('/ready')).statusCode, 200)
    await own.stop()
    await waitFor(async () => (await a!.app.inject('/ready')).statusCode === 503)
    const ready = (await a!.app.inject('/ready')).json()
    t.match(ready.reason, /redis/, '/ready says why')
    t.equal((await a!.app.inject('/health')).statusCode, 200, '/health stays 200')
    client.ws.send(JSON.stringify({ type: 'message', text: 'lost?', cid: 'down-1' }))
    t.match(await client.frames.next('error'), { code: 'unavailable', cid: 'down-1' }, 'refused, never silently dropped')
    const echo = await connect(t, `${a!.ws}/ws/echo`)
    const reply = new Promise((resolve) => echo.ws.once('message', (d) => resolve(String(d))))
    echo.ws.send('still here')
    t.equal(await reply, 'still here', 'echo keeps working')
    const lastSeen = { seq: 0, epoch: String(client.welcome.epoch) }
    client.ws.close()

    await own.start() // comes back empty
    await waitFor(async () => (await a!.app.inject('/ready')).statusCode === 200 && (await b!.app.inject('/ready')).statusCode === 200)
    const pub = await b!.app.inject({ method: 'POST', url: '/rooms/f/messages', payload: { text: 'while you were away' }, headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(pub.statusCode, 201)
    const back = await joined(t, `${a!.ws}/ws/chat/f?name=Client&since=${lastSeen.seq}&epoch=${lastSeen.epoch}`)
    t.equal(back.welcome.truncated, true, 'Redis lost its data: a new epoch, and the client is told')
    t.not(back.welcome.epoch, lastSeen.epoch)
    t.same((back.welcome.history as Array<{ text: string }>).map((m) => m.text), ['while you were away'])
    back.ws.send(JSON.stringify({ type: 'message', text: 'lost?', cid: 'down-1' }))
    t.match(await back.frames.next('ack'), { cid: 'down-1', seq: 2 }, 'the refused message, sent again, is accepted')
  })

  t.test('Redis down at start: the process starts, /ready is 503, /health 200, chat refused with 4003', async (t) => {
    const dead = new RedisServer(await freePort())
    const app = await listen(t, { REDIS_URL: dead.url })
    const ready = await app.app.inject('/ready')
    t.equal(ready.statusCode, 503)
    t.match(ready.json().reason, /redis/)
    t.equal((await app.app.inject('/health')).statusCode, 200)
    t.match((await app.app.inject('/metrics')).body, /^rt_backplane_up 0$/m, 'the backplane state is a metric')
    const c = await connect(t, `${app.ws}/ws/chat/z?name=Z`)
    t.equal((await closed(c.ws))[0], 4003)
    const echo = await connect(t, `${app.ws}/ws/echo`)
    t.equal(echo.ws.readyState, WebSocket.OPEN)
  })
  t.test('with auth, a user counts once across tabs on several instances: join on the first, leave after the last', async (t) => {
    const secret = 'cluster-auth-secret-0123456789abcdef'
    const { instances: [a, b] } = await cluster(t, redis, 2, { AUTH_MODE: 'jwt', JWT_SECRET: secret })
    const key = { alg: 'HS256' as const, key: new TextEncoder().encode(secret) }
    const tok = async (sub: string) => await mint(key, { sub, name: sub.toUpperCase(), ttlSeconds: 600 })
    const watcher = await joined(t, `${a!.ws}/ws/chat/tabs?token=${await tok('watcher')}`)
    const tabs = [
      await joined(t, `${a!.ws}/ws/chat/tabs?token=${await tok('gina')}`),
      await joined(t, `${a!.ws}/ws/chat/tabs?token=${await tok('gina')}`),
      await joined(t, `${b!.ws}/ws/chat/tabs?token=${await tok('gina')}`)
    ]
    t.match(await watcher.frames.next('join'), { name: 'GINA', userId: 'gina' })
    t.equal(tabs[2]!.welcome.memberCount, 2, 'three tabs of one user on two instances count once')
    tabs[0]!.ws.close()
    tabs[2]!.ws.close()
    await Promise.all([closed(tabs[0]!.ws), closed(tabs[2]!.ws)])
    tabs[1]!.ws.send('still here')
    t.match(await watcher.frames.next('message'), { text: 'still here', userId: 'gina' })
    t.equal(watcher.frames.all('join').length, 1, 'one join')
    t.equal(watcher.frames.all('leave').length, 0, 'no leave while a tab is open')
    t.same((await b!.app.inject({ url: '/rooms/tabs', headers: { authorization: `Bearer ${TOKEN}` } })).json().members.sort(), ['GINA', 'WATCHER'])
    tabs[1]!.ws.close()
    t.match(await watcher.frames.next('leave'), { name: 'GINA', userId: 'gina' })
  })
})

async function waitFor (check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
