// src/publisher: another process publishes through Redis (one server, Sentinels or a Cluster, as the instances
// reach it); members on two instances get it with the room's seq.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ConfigError, createPublisher, RealtimeError, type PublisherOptions } from '../../src/publisher.js'
import { connect, listen } from '../helper.js'
import { mint } from '../../src/token.js'
import { freePort, RedisServer, requireRedis, requireSentinel } from '../redis/redis-server.js'
import { RedisCluster, requireCluster } from '../redis/cluster-harness.js'

t.setTimeout(90_000)

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

t.test('exactly one topology: none or several is a ConfigError naming the options', async (t) => {
  // what a JavaScript caller can pass; the types refuse these already
  const bad = (opts: object) => () => createPublisher(opts as PublisherOptions)
  t.throws(bad({}), new ConfigError('createPublisher needs one of redisUrl, redisSentinels or redisClusterNodes'))
  t.throws(bad({ redisPrefix: 'x:' }), { name: 'ConfigError', message: /needs one of redisUrl/ })
  t.throws(bad({ redisUrl: 'redis://127.0.0.1:1', redisSentinels: '127.0.0.1:2' }),
    new ConfigError('invalid redisSentinels: set either redisUrl or redisSentinels, not both'))
  t.throws(bad({ redisSentinels: ['127.0.0.1:2'], redisClusterNodes: ['127.0.0.1:3'] }),
    new ConfigError('invalid redisClusterNodes: set one of redisUrl, redisSentinels or redisClusterNodes, not redisSentinels too'))
  t.throws(bad({ redisUrl: 'redis://127.0.0.1:1', redisClusterNodes: '127.0.0.1:3' }), { name: 'ConfigError', message: /not redisUrl too$/ })
  t.throws(bad({ redisClusterNodes: '127.0.0.1' }), { name: 'ConfigError', message: /^invalid redisClusterNodes="127\.0\.0\.1"/ })
  t.throws(bad({ redisSentinels: ['127.0.0.1:99999'] }), { name: 'ConfigError', message: /^invalid redisSentinels="127\.0\.0\.1:99999"/ })
  t.throws(bad({ redisSentinels: '127.0.0.1:2', redisSentinelName: 'x'.repeat(129) }), { name: 'ConfigError', message: /^invalid redisSentinelName=/ })
})

/** A member of `room` on `app`, past its welcome. */
async function member (t: Test, ws: string, room: string, name: string): Promise<Awaited<ReturnType<typeof connect>>> {
  const m = await connect(t, `${ws}/ws/chat/${room}?name=${name}`)
  await m.frames.next('welcome')
  return m
}

t.test('through Sentinels: the publisher reaches the master they name, as the instances do', async (t) => {
  if (!requireSentinel(t)) return
  const dir = mkdtempSync(join(tmpdir(), 'rt-pub-sentinel-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const master = await RedisServer.start(t)
  // not the default name: redisSentinelName is used
  const sentinel = new RedisServer(await freePort(), { dir, sentinel: `sentinel monitor orders 127.0.0.1 ${master.port} 1` })
  await sentinel.start()
  t.teardown(async () => await sentinel.stop())
  const sentinels = `127.0.0.1:${sentinel.port}`
  const { ws } = await listen(t, { REDIS_SENTINELS: sentinels, REDIS_SENTINEL_NAME: 'orders', REDIS_PREFIX: 'ps:' })
  const ann = await member(t, ws, 'orders', 'ann')

  const wrongName = createPublisher({ redisSentinels: [sentinels], redisPrefix: 'ps:', connectTimeoutMs: 300 })
  t.teardown(() => wrongName.close())
  await t.rejects(wrongName.publish('orders', { text: 'x' }), { name: 'UnavailableError' }, 'the Sentinels name no `mymaster`')

  const publisher = createPublisher({ redisSentinels: [sentinels], redisSentinelName: 'orders', redisPrefix: 'ps:' })
  t.teardown(() => publisher.close())
  const published = await publisher.publish('orders', { event: 'shipped', data: { id: 12 }, from: 'worker' })
  t.match(published, { seq: 1, duplicate: false })
  t.match(await ann.frames.next('message'), { room: 'orders', seq: 1, event: 'shipped', data: { id: 12 }, from: 'worker', id: published.id })
  const direct = createPublisher({ redisUrl: master.url, redisPrefix: 'ps:' })
  t.teardown(() => direct.close())
  t.match(await direct.publish('orders', { text: 'same room', from: 'cron' }), { seq: 2 }, 'the master the Sentinels name holds the room')
  t.match(await ann.frames.next('message'), { seq: 2, text: 'same room' })
})

t.test('on a Redis Cluster: rooms on different masters, dedupe, history, a personal stream', async (t) => {
  if (!requireCluster(t)) return
  const cluster = await RedisCluster.start(t, { masters: 3, replicasPerMaster: 0 })
  const secret = 'publisher-cluster-secret-0123456789abcdef'
  const apiToken = 'publisher-cluster-api-token-0123456789'
  const settings = { REDIS_CLUSTER_NODES: cluster.spec, REDIS_PREFIX: 'pc:', AUTH_MODE: 'jwt', JWT_SECRET: secret, API_TOKEN: apiToken }
  const a = await listen(t, settings)
  const b = await listen(t, settings)
  const signing = { alg: 'HS256' as const, key: new TextEncoder().encode(secret) }
  const token = async (sub: string) => await mint(signing, { sub, ttlSeconds: 600 })
  // rooms whose keys live on different masters
  const rooms = ['news', 'prices', 'ops', 'alerts']
  const masters = new Set(rooms.map((r) => cluster.masterOf(`{${r}}`)))
  t.ok(masters.size >= 2, `the rooms span ${masters.size} masters`)
  const onA = await connect(t, `${a.ws}/ws/hub?token=${await token('ann')}`)
  const onB = await connect(t, `${b.ws}/ws/hub?token=${await token('bob')}`)
  await onA.frames.next('subscribed') // the personal stream
  await onB.frames.next('subscribed')
  for (const [i, room] of rooms.entries()) {
    for (const m of [onA, onB]) {
      m.ws.send(JSON.stringify({ type: 'subscribe', ref: i + 1, room }))
      await m.frames.next((f) => f.type === 'subscribed' && f.room === room)
    }
  }

  // only one node given: the others are discovered
  const publisher = createPublisher({ redisClusterNodes: [cluster.spec.split(',')[0]!], redisPrefix: 'pc:' })
  t.teardown(() => publisher.close())
  for (const room of rooms) {
    const published = await publisher.publish(room, { text: `to ${room}`, from: 'worker', cid: `c-${room}` })
    t.match(published, { seq: 1, duplicate: false }, room)
    for (const m of [onA, onB]) t.match(await m.frames.next('message'), { room, seq: 1, text: `to ${room}`, id: published.id })
    t.match(await publisher.publish(room, { text: `to ${room}`, from: 'worker', cid: `c-${room}` }), { seq: 1, duplicate: true })
  }
  const history = (await b.app.inject({ url: '/rooms/prices/history', headers: { authorization: `Bearer ${apiToken}` } })).json()
  t.match(history.messages, [{ seq: 1, text: 'to prices', from: 'worker' }], 'held in the room\'s history on the Cluster')
  t.match(await publisher.publishToUser('bob', { event: 'invoice', data: { id: 7 } }), { seq: 1 })
  t.match(await onB.frames.next('message'), { room: '@bob', event: 'invoice', data: { id: 7 }, seq: 1 })
  t.equal(onA.frames.all('message').some((f) => f.room === '@bob'), false, 'only its user gets a personal stream')
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
