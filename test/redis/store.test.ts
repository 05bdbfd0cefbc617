// The store on one Redis; the same cases run on a Redis Cluster in redis-cluster-hub.test.ts.
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisServer, requireRedis } from './redis-server.js'
import { storeCases } from './store-cases.js'

t.test('redis store', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  storeCases(t, { settings: { REDIS_URL: redis.url }, cluster: false, client: () => new Redis(redis.url) })
})
