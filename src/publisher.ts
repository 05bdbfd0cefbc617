// `fastify-realtime/publisher`: publish into the rooms from another process (a worker, a cron job) through
// the same Redis and the same scripts as the instances. A message gets the room's next seq, is held in its
// history and reaches the members on every instance, as if an instance had published it.
import { Broker } from './hub/redis/broker.js'
import { Keys } from './hub/redis/client.js'
import { redisConnections } from './hub/redis/store.js'
import { RoomScripts } from './hub/redis/room-scripts.js'
import { RealtimeError, draftOf, publishedOf, roomOf, userStreamOf, type PublishInput, type Published } from './hub/publish.js'
import { configFromOptions } from './config/options.js'
import { ConfigError, redisTopology } from './config/load.js'
import { UnavailableError } from './hub/errors.js'

export { type PublishInput, type Published } from './hub/publish.js'

/**
 * Where the instances' Redis is, exactly one of: `redisUrl` (their REDIS_URL); `redisSentinels` (REDIS_SENTINELS:
 * the publisher follows the master they name through a failover) with `redisSentinelName` (REDIS_SENTINEL_NAME,
 * default `mymaster`); `redisClusterNodes` (REDIS_CLUSTER_NODES: any of the nodes, the others are discovered).
 * Lists are `host:port` items, comma-separated or in an array. None or several is a ConfigError.
 */
export type PublisherTopology =
  | { redisUrl: string, redisSentinels?: undefined, redisSentinelName?: undefined, redisClusterNodes?: undefined }
  | { redisSentinels: string | string[], redisSentinelName?: string, redisUrl?: undefined, redisClusterNodes?: undefined }
  | { redisClusterNodes: string | string[], redisUrl?: undefined, redisSentinels?: undefined, redisSentinelName?: undefined }

export type PublisherOptions = PublisherTopology & PublisherSettings

export interface PublisherSettings {
  /** the instances' REDIS_PREFIX (default `rt:`) */
  redisPrefix?: string
  /** give the instances' values when they differ from the defaults: history is trimmed on every publish */
  historySize?: number
  historyTtlMs?: number
  roomIdleTtlMs?: number
  chatMaxLength?: number
  maxDataBytes?: number
  redisAckReplicas?: number
  redisAckTimeoutMs?: number
  /** how long the first publish waits for the connection (default 5000 ms) */
  connectTimeoutMs?: number
}

export interface Publisher {
  publish (room: string, msg: PublishInput): Promise<Published>
  /** to the user's personal stream `@<userId>` (the instances run with AUTH_MODE=jwt) */
  publishToUser (userId: string, msg: PublishInput): Promise<Published>
  close (): Promise<void>
}

export function createPublisher (opts: PublisherOptions): Publisher {
  const { connectTimeoutMs = 5000, ...settings } = opts
  // the same names, defaults and checks as the instances' settings: several topologies at once are refused there
  const config = configFromOptions(settings)
  const topology = redisTopology(config)
  if (topology === undefined) throw new ConfigError('createPublisher needs one of redisUrl, redisSentinels or redisClusterNodes')
  let lastError: Error | undefined
  const onError = (err: Error) => { lastError = err }
  // the instances' own connections; the broker's subscriber is never connected: a publisher only writes
  const { cmd, sub } = redisConnections(topology)
  cmd.on('error', onError)
  const keys = new Keys(config.REDIS_PREFIX, 'clusterNodes' in topology)
  // the instances' room bounds too (MAX_ROOMS, HISTORY_MAX_BYTES, ROOM_IDLE_TTL_MS): a publisher's room counts like theirs
  const options = {
    historySize: config.HISTORY_SIZE,
    historyTtlMs: config.HISTORY_TTL_MS,
    roomIdleTtlMs: config.ROOM_IDLE_TTL_MS,
    maxRooms: config.MAX_ROOMS,
    historyMaxBytes: config.HISTORY_MAX_BYTES,
    ackReplicas: config.REDIS_ACK_REPLICAS,
    ackTimeoutMs: config.REDIS_ACK_TIMEOUT_MS
  }
  const broker = new Broker(cmd, sub, keys, options, { hasLocal: () => false }, onError, new RoomScripts(cmd, keys, options, onError))
  let connecting: Promise<void> | undefined
  const isReady = () => cmd.status === 'ready'

  async function ready (): Promise<void> {
    if (isReady()) return
    // failures reach onError; ioredis keeps retrying. Not awaited: through Sentinels that name no such master,
    // connect() settles only once one does, and the first publish must not wait longer than connectTimeoutMs
    connecting ??= cmd.connect().catch(() => {})
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cmd.off('ready', onReady)
        reject(new UnavailableError(`redis is ${cmd.status}${lastError === undefined ? '' : `: ${lastError.message}`}`))
      }, connectTimeoutMs)
      function onReady () { clearTimeout(timer); resolve() }
      cmd.once('ready', onReady)
    })
  }

  async function publish (stream: string, msg: PublishInput): Promise<Published> {
    const draft = draftOf(msg, { maxLength: config.CHAT_MAX_LENGTH, maxDataBytes: config.MAX_DATA_BYTES })
    await ready()
    return publishedOf(await broker.publish(stream, draft))
  }

  return {
    async publish (room, msg) {
      return await publish(roomOf(room), msg)
    },
    async publishToUser (userId, msg) {
      return await publish(userStreamOf(userId), msg)
    },
    async close () {
      sub.disconnect()
      if (isReady()) await cmd.quit()
      else cmd.disconnect()
    }
  }
}
export { RealtimeError, ConfigError }
