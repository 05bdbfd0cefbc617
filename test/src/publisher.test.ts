// src/publisher: another process publishes through Redis; members on two instances get it with the room's seq.
import t from 'tap'
import { createPublisher, RealtimeError } from '../../src/publisher.js'
import { connect, listen } from '../helper.js'
import { mint } from '../../src/token.js'
import { RedisServer, requireRedis } from '../redis/redis-server.js'

t.test('a published message takes the next seq, is held in history and reaches members on every instance', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  const settings = { REDIS_URL: redis.url, REDIS_PREFIX: 'pub:' }
  const a = await listen(t, settings)
  const b = await listen(t, settings)
  const onA = await connect(t, `${a.ws}/ws/chat/news?name=ann`)
  const onB = await connect(t, `${b.ws}/ws/chat/news?name=bob`)
  await onA.frames.next('welcome')
  await onB.frames.next('welcome')
  onA.ws.send('first, from a socket')
  for (const member of [onA, onB]) t.match(await member.frames.next('message'), { seq: 1 })

  const publisher = createPublisher({ redisUrl: redis.url, redisPrefix: 'pub:' })
  t.teardown(() => publisher.close())
  const published = await publisher.publish('news', { text: 'from a worker', from: 'cron', cid: 'job-1' })
  t.match(published, { seq: 2, duplicate: false, id: String, epoch: String })
  for (const member of [onA, onB]) {
    t.match(await member.frames.next('message'), { room: 'news', from: 'cron', text: 'from a worker', seq: 2, id: published.id })
  }
  t.match(await publisher.publish('news', { text: 'from a worker', from: 'cron', cid: 'job-1' }), { seq: 2, duplicate: true }, 'a repeated cid is the original')
  const history = (await a.app.inject('/rooms/news/history')).json()
  t.match(history.messages, [{ seq: 1 }, { seq: 2, text: 'from a worker' }], 'held in history')
  const late = await connect(t, `${b.ws}/ws/chat/news?name=cy&since=1&epoch=${published.epoch}`)
  t.match((await late.frames.next('welcome')).history, [{ seq: 2, from: 'cron' }], 'a resume gets it')
})

t.test('bad input is refused before Redis; an unreachable Redis is 503 after the connect timeout', async (t) => {
  const publisher = createPublisher({ redisUrl: 'redis://127.0.0.1:1', connectTimeoutMs: 200 })
  t.teardown(() => publisher.close())
  await t.rejects(publisher.publish('bad room', { text: 'x' }), new RealtimeError(400, 'invalid room "bad room": ^[A-Za-z0-9_-]{1,64}$'))
  await t.rejects(publisher.publish('ok', { text: '' }), new RealtimeError(400, 'text must not be empty'))
  await t.rejects(publisher.publish('ok', { text: 'x' }), { name: 'UnavailableError' })
  t.throws(() => createPublisher({ redisUrl: 'http://nope' }), { message: /^invalid redisUrl=/ })
})

t.test('publishToUser reaches the user\'s sockets; data and event go through', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  const secret = 'publisher-test-secret-0123456789abcdef'
  const { ws } = await listen(t, { REDIS_URL: redis.url, AUTH_MODE: 'jwt', JWT_SECRET: secret })
  const token = await mint({ alg: 'HS256', key: new TextEncoder().encode(secret) }, { sub: 'alice', ttlSeconds: 600 })
  const alice = await connect(t, `${ws}/ws/hub?token=${token}`)
  await alice.frames.next('subscribed')
  const publisher = createPublisher({ redisUrl: redis.url })
  t.teardown(() => publisher.close())
  t.match(await publisher.publishToUser('alice', { event: 'invoice', data: { id: 7 } }), { seq: 1 })
  t.match(await alice.frames.next('message'), { room: '@alice', event: 'invoice', data: { id: 7 }, seq: 1 })
  await t.rejects(publisher.publish('@alice', { text: 'x' }), new RealtimeError(400, 'invalid room "@alice": ^[A-Za-z0-9_-]{1,64}$'))
})
