// A worker beside the app (a cron job, a queue consumer) publishing into its rooms through `fastify-realtime/publisher`,
// pointed at the Redis the instances use, read from the same environment variables: one Redis, Sentinels or a
// Cluster. Exactly one of them: the types refuse none and several, and createPublisher does at run time.
import { createPublisher, type Publisher } from 'fastify-realtime/publisher'

export function publisherFromEnv (env: Record<string, string | undefined>): Publisher {
  const redisPrefix = env.REDIS_PREFIX
  if (env.REDIS_CLUSTER_NODES !== undefined) return createPublisher({ redisClusterNodes: env.REDIS_CLUSTER_NODES, redisPrefix })
  if (env.REDIS_SENTINELS !== undefined) {
    return createPublisher({ redisSentinels: env.REDIS_SENTINELS.split(','), redisSentinelName: env.REDIS_SENTINEL_NAME, redisPrefix })
  }
  return createPublisher({ redisUrl: env.REDIS_URL ?? 'redis://127.0.0.1:6379', redisPrefix })
}

// Never called: these lines make the build fail the day the installed types stop refusing a wrong topology.
export function mistakes (): void {
  // @ts-expect-error where the instances' Redis is: one of redisUrl, redisSentinels, redisClusterNodes
  createPublisher({ redisPrefix: 'rt:' })
  // @ts-expect-error one topology, not two
  createPublisher({ redisUrl: 'redis://127.0.0.1:6379', redisClusterNodes: '127.0.0.1:7000' })
}
