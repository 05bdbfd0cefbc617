// The cluster harness itself, and what the hub's Cluster mode relies on from a real Redis Cluster: a room's
// keys ({room} hash tag) in one slot so a script may touch them together, its channel in that slot for
// sharded pub/sub, and a replica taking over a killed master.
import { once } from 'node:events'
import t from 'tap'
import { Cluster } from 'ioredis'
import { RedisCluster, requireCluster } from './cluster-harness.js'

t.test('redis cluster harness', async (t) => {
  if (!requireCluster(t)) return
  const started = Date.now()
  const cluster = await RedisCluster.start(t)
  t.ok(Date.now() - started < 30_000, `3 masters + 3 replicas up in ${Date.now() - started} ms`)
  t.equal(cluster.nodes.length, 6)
  const masters = cluster.cli(cluster.nodes[0]!.port, 'CLUSTER', 'NODES').split('\n').filter((l) => l.includes('master'))
  t.equal(masters.length, 3, 'three masters')

  const nodes = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))
  const cmd = new Cluster(nodes, { clusterRetryStrategy: () => 100, redisOptions: { maxRetriesPerRequest: 3 } })
  const sub = new Cluster(nodes, { shardedSubscribers: true, clusterRetryStrategy: () => 100 })
  t.teardown(() => { cmd.disconnect(); sub.disconnect() })

  t.test('a room\'s keys share a slot: one script reads and writes them together', async (t) => {
    const keys = ['rt:room:{lobby}:meta', 'rt:room:{lobby}:hist', 'rt:room:{lobby}:ch']
    const slots = new Set(await Promise.all(keys.map(async (k) => await cmd.cluster('KEYSLOT', k))))
    t.equal(slots.size, 1, 'one slot')
    const seq = await cmd.eval("redis.call('RPUSH', KEYS[2], 'm'); return redis.call('HINCRBY', KEYS[1], 'seq', 1)", 2, keys[0]!, keys[1]!)
    t.equal(seq, 1)
    await t.rejects(cmd.eval("return redis.call('GET', KEYS[2])", 2, 'rt:room:{a}:meta', 'rt:room:{b}:meta'), /CROSSSLOT/, 'two rooms cannot share a script')
  })

  t.test('sharded pub/sub: SPUBLISH reaches an SSUBSCRIBEr of the channel', async (t) => {
    const channel = 'rt:room:{lobby}:ch'
    await sub.ssubscribe(channel)
    const got = once(sub, 'smessage')
    t.equal(await cmd.spublish(channel, 'hello'), 1, 'one subscriber')
    t.same((await got).slice(0, 2), [channel, 'hello'])
    const fromScript = once(sub, 'smessage')
    await cmd.eval("return redis.call('SPUBLISH', KEYS[1], ARGV[1])", 1, channel, 'from a script')
    t.same((await fromScript).slice(0, 2), [channel, 'from a script'], 'a script publishes to a channel of its slot')
  })

  t.test('a killed master is replaced by its replica and the slot takes writes again', async (t) => {
    const key = 'rt:room:{failover}:meta'
    await cmd.hset(key, 'seq', 7)
    await cmd.wait(1, 2000)
    const old = cluster.masterOf(key)
    if (old === undefined) throw new Error('no master for the key')
    await cluster.kill(old)
    const now = await cluster.failedOver(key, old)
    t.not(now, old, 'another node holds the slot')
    t.equal(await cmd.hget(key, 'seq'), '7', 'a write the replica confirmed (WAIT) survived')
    t.equal(await cmd.hincrby(key, 'seq', 1), 8)
  })
})
