import t from 'tap'
import { loadConfig, parseSentinels } from '../../../src/config/load.js'

t.test('Redis settings: one of REDIS_URL and REDIS_SENTINELS, validated with one line', async (t) => {
  const c = loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379,sentinel-b:26380' })
  t.equal(c.REDIS_SENTINEL_NAME, 'mymaster')
  t.equal(c.REDIS_ACK_REPLICAS, 0)
  t.equal(c.REDIS_ACK_TIMEOUT_MS, 1000)
  t.same(parseSentinels(c.REDIS_SENTINELS!), [{ host: '10.0.0.1', port: 26379 }, { host: 'sentinel-b', port: 26380 }])
  t.throws(() => loadConfig({ REDIS_URL: 'redis://x', REDIS_SENTINELS: 'a:1' }), /REDIS_URL or REDIS_SENTINELS, not both/)
  t.throws(() => loadConfig({ REDIS_SENTINELS: 'a' }), /invalid REDIS_SENTINELS="a"/)
  t.throws(() => loadConfig({ REDIS_SENTINELS: 'a:70000' }), /"a:70000" is not host:port/)
  t.throws(() => loadConfig({ REDIS_ACK_REPLICAS: '1' }), /REDIS_ACK_REPLICAS="1": it needs REDIS_URL or REDIS_SENTINELS/)
  t.throws(() => loadConfig({ REDIS_URL: 'redis://x', REDIS_ACK_REPLICAS: '-1' }), /invalid REDIS_ACK_REPLICAS/)
  t.throws(() => loadConfig({ REDIS_URL: 'redis://x', REDIS_ACK_TIMEOUT_MS: '0' }), /invalid REDIS_ACK_TIMEOUT_MS/)
  t.equal(loadConfig({ REDIS_URL: 'redis://x', REDIS_ACK_REPLICAS: '2', REDIS_ACK_TIMEOUT_MS: '250' }).REDIS_ACK_REPLICAS, 2)
})
