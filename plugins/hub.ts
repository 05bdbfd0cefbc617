import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { Hub } from '../src/hub/hub.js'
import { MemoryStore } from '../src/hub/memory-store.js'
import type { HubStore } from '../src/hub/types.js'
import { redisTopology } from '../src/config/load.js'

declare module 'fastify' {
  interface FastifyInstance { hub: Hub }
}

export interface HubPluginOptions {
  /** a store to use instead of the embedded in-memory one (e.g. a Redis backplane) */
  store?: HubStore
}

async function hubPlugin (app: FastifyInstance, opts: HubPluginOptions) {
  const { realtimeConfig: config } = app
  const store = opts.store ?? await createStore(app)
  const hub = new Hub(store, {
    maxLength: config.CHAT_MAX_LENGTH,
    maxDataBytes: config.MAX_DATA_BYTES,
    maxSubscriptions: config.MAX_SUBSCRIPTIONS_PER_SOCKET,
    ratePerSec: config.CHAT_RATE_PER_SEC,
    rateBurst: config.CHAT_RATE_BURST,
    maxClients: config.RATE_LIMIT_MAX_CLIENTS,
    ipv6PrefixBits: config.IPV6_PREFIX_BITS,
    sendBufferLimit: config.SEND_BUFFER_LIMIT_BYTES,
    log: app.log
  })
  app.decorate('hub', hub)
  app.addHook('onClose', async () => await store.close())
}

/** REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES set: the Redis backplane shared by every instance; unset: the embedded in-memory hub. */
async function createStore (app: FastifyInstance): Promise<HubStore> {
  const { realtimeConfig: config } = app
  const topology = redisTopology(config)
  if (topology === undefined) {
    return new MemoryStore({
      historySize: config.HISTORY_SIZE,
      historyTtlMs: config.HISTORY_TTL_MS,
      presenceMaxMembers: config.PRESENCE_EVENTS_MAX_MEMBERS,
      roomIdleTtlMs: config.ROOM_IDLE_TTL_MS,
      maxRooms: config.MAX_ROOMS,
      historyMaxBytes: config.HISTORY_MAX_BYTES
    })
  }
  // loaded only when used: ioredis is live heap that an instance without Redis would mark at every GC
  const { RedisStore } = await import('../src/hub/redis/store.js')
  let lastError = ''
  const store = new RedisStore({
    ...topology,
    ackReplicas: config.REDIS_ACK_REPLICAS,
    ackTimeoutMs: config.REDIS_ACK_TIMEOUT_MS,
    prefix: config.REDIS_PREFIX,
    historySize: config.HISTORY_SIZE,
    historyTtlMs: config.HISTORY_TTL_MS,
    presenceTtlMs: config.PRESENCE_TTL_MS,
    presenceMaxMembers: config.PRESENCE_EVENTS_MAX_MEMBERS,
    roomIdleTtlMs: config.ROOM_IDLE_TTL_MS,
    maxRooms: config.MAX_ROOMS,
    historyMaxBytes: config.HISTORY_MAX_BYTES,
    onError (err) {
      // ioredis retries by itself; log each distinct failure once, not once per retry
      if (err.message !== lastError) app.log.warn({ err: { message: err.message } }, 'redis error')
      lastError = err.message
    }
  })
  // a Redis that is down does not stop the boot: /ready says why until it is reachable
  await store.start()
  app.lifecycle.addCheck(() => store.notReady())
  return store
}

export default fp(hubPlugin, { name: 'hub', dependencies: ['realtime-config', 'lifecycle'] })
