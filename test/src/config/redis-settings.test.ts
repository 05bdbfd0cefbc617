import t from 'tap'
import { loadConfig, parseHostPorts, parseSentinels } from '../../../src/config/load.js'

t.test('Redis settings: one of REDIS_URL and REDIS_SENTINELS, validated with one line', async (t) => {
  const c = loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379,sentinel-b:26380' })
  t.equal(c.REDIS_SENTINEL_NAME, 'mymaster')
  t.equal(c.REDIS_ACK_REPLICAS, 0)
  t.equal(c.REDIS_ACK_TIMEOUT_MS, 1000)
  t.same(parseSentinels(c.REDIS_SENTINELS!), [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }])
  t.throws(() => loadConfig({ REDIS_URL: 'redis://x', REDIS_SENTINELS: 'a:1' }), /REDIS_URL or REDIS_SENTINELS, not both/)
  t.throws(() => loadConfig({ REDIS_SENTINELS: 'a' }), /invalid REDIS_SENTINELS="a"/)
  t.throws(() => loadConfig({ REDIS_SENTINELS: 'a:70000' }), /"a:70000" is not host:port/)
  t.throws(() => loadConfig({ REDIS_ACK_REPLICAS: '1' }), /REDIS_ACK_REPLICAS="1": it needs REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES/)
  t.throws(() => loadConfig({ REDIS_URL: 'redis://x', REDIS_ACK_REPLICAS: '-1' }), /invalid REDIS_ACK_REPLICAS/)
  t.throws(() => loadConfig({ REDIS_URL: 'redis://x', REDIS_ACK_TIMEOUT_MS: '0' }), /invalid REDIS_ACK_TIMEOUT_MS/)
  t.equal(loadConfig({ REDIS_URL: 'redis://x', REDIS_ACK_REPLICAS: '2', REDIS_ACK_TIMEOUT_MS: '250' }).REDIS_ACK_REPLICAS, 2)
})

t.test('REDIS_CLUSTER_NODES: host:port list, alone, validated with one line', async (t) => {
  const c = loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,redis-b:7001', REDIS_ACK_REPLICAS: '1' })
  t.same(parseHostPorts('REDIS_CLUSTER_NODES', c.REDIS_CLUSTER_NODES!), [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b', port: 7001 }])
  t.equal(c.REDIS_ACK_REPLICAS, 1, 'acks may wait for a cluster replica')
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_URL: 'redis://x' }), /^invalid REDIS_CLUSTER_NODES: set one of REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES, not REDIS_URL too$/)
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1', REDIS_SENTINELS: 'b:2' }), /not REDIS_SENTINELS too/)
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'a' }), /invalid REDIS_CLUSTER_NODES="a"/)
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:1,,b:2' }), /invalid REDIS_CLUSTER_NODES/)
  t.throws(() => loadConfig({ REDIS_CLUSTER_NODES: 'a:0' }), /invalid REDIS_CLUSTER_NODES="a:0": "a:0" is not host:port/)
})
