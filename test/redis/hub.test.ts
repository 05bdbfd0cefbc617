// The multi-room protocol across two instances on one Redis (the same cases run on a Redis Cluster in
// redis-cluster-hub.test.ts).
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { listen } from '../helper.js'
import { RedisServer, requireRedis } from './redis-server.js'
import { PROTOCOL_SETTINGS, protocolCases } from './protocol-cases.js'

t.test('the hub protocol across two instances on Redis', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  protocolCases(t, async (t) => {
    const cfg = { REDIS_URL: redis.url, REDIS_PREFIX: `h${randomBytes(3).toString('hex')}:`, ...PROTOCOL_SETTINGS }
    return [await listen(t, cfg), await listen(t, cfg)] as const
  })
})
