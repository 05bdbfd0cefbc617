import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { closed, connect, listen, type Frames } from '../helper.js'
import { startServer } from '../server-process.js'
import { freePort, RedisServer, requireRedis } from './redis-server.js'
import { crossInstanceDelivery, gapAcrossResubscribe, sharedHubCases } from './hub-cases.js'

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
    await crossInstanceDelivery(t, a!, b!, c!)
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

  sharedHubCases(t, async (t, n, extra) => (await cluster(t, redis, n, extra)).instances)

  t.test('per-room routing: an instance hears a room only while it has members there, and loses nothing around it', async (t) => {
    const { instances: [a, b, idle], prefix } = await cluster(t, redis, 3)
    const raw = new Redis(redis.url)
    t.teardown(() => raw.disconnect())
    const subscribers = async (room: string) => {
      const [, n] = await raw.pubsub('NUMSUB', `${prefix}room:{${room}}:ch`) as [string, number]
      return n
    }
    t.equal(await subscribers('route'), 0, 'nobody listens to a room without members')
    const pub = await joined(t, `${a!.ws}/ws/chat/route?name=Pub`)
    t.equal(await subscribers('route'), 1, 'the instance with a member subscribes before the welcome')
    // the publisher keeps publishing while a member on b joins and leaves again and again: each of its
    // sessions gets every seq after its welcome's, once and in order
    const pumping = { on: true }
    let sent = 0
    const pump = (async () => {
      while (pumping.on) {
        pub.ws.send(JSON.stringify({ type: 'message', text: `n${sent}`, cid: `c${sent}` }))
        sent++
        await pub.frames.next((f) => f.type === 'ack' && f.cid === `c${sent - 1}`)
      }
    })()
    for (let i = 0; i < 6; i++) {
      const m = await joined(t, `${b!.ws}/ws/chat/route?name=M${i}`)
      const from = Number(m.welcome.seq)
      await m.frames.next((f) => f.type === 'message' && Number(f.seq) >= from + 5, 10000)
      const got = seqs(m.frames)
      t.same(got, Array.from({ length: got.length }, (_, k) => from + 1 + k), `session ${i}: every seq after ${from}, once, in order`)
      m.ws.close()
      await closed(m.ws)
      await waitFor(async () => await subscribers('route') === 1)
    }
    pumping.on = false
    await pump
    t.equal(await subscribers('route'), 1, 'b unsubscribed once its last member left')
    const [, all] = await raw.pubsub('NUMSUB', `${prefix}events`) as [string, number]
    t.equal(all, 0, 'no instance subscribes to a channel of every room')
    t.equal((await idle!.app.inject('/ready')).statusCode, 200, 'an instance with no member is ready and subscribed to nothing')
    pub.ws.close()
    await closed(pub.ws)
    await waitFor(async () => await subscribers('route') === 0)
  })

  t.test('subscriber connections killed under traffic: every watched room is subscribed again, the gap filled', async (t) => {
    const { instances: [a, b], prefix } = await cluster(t, redis, 2)
    const raw = new Redis(redis.url)
    t.teardown(() => raw.disconnect())
    const pub = await joined(t, `${a!.ws}/ws/chat/gap1?name=Pub`)
    // both instances' subscribers, mid-stream
    await gapAcrossResubscribe(t, a!, b!, async () => { await raw.call('CLIENT', 'KILL', 'TYPE', 'pubsub') })
    await pub.frames.next((f) => f.type === 'message' && f.seq === 30, 10000)
    const [, n1, , n2] = await raw.pubsub('NUMSUB', `${prefix}room:{gap1}:ch`, `${prefix}room:{gap2}:ch`) as [string, number, string, number]
    t.same([n1, n2], [2, 1], 'resubscribed: gap1 on both instances, gap2 on b only')
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
})

async function waitFor (check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
