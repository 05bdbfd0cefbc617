import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { Broker } from './broker.js'
import { CLIENT_OPTIONS, Keys, roomArgs, type RoomBounds } from './client.js'
import { Presence } from './presence.js'
import { defineClusterScripts, defineScripts, type ScriptedRedis } from './scripts.js'
import { RoomScripts } from './room-scripts.js'
import type { Backlog, Draft, HubListener, HubStore, Member, PublishResult, RoomSummary, RoomsPage, SignalEvent } from '../types.js'

export interface RedisStoreOptions {
  /** one Redis; or, instead, `sentinels` */
  url?: string
  /** Sentinels that name the master (`sentinelName`): the connections follow a failover */
  sentinels?: Array<{ host: string, port: number }>
  sentinelName?: string
  /** instead of `url`/`sentinels`: the nodes of a Redis Cluster (any of them; the others are discovered) */
  clusterNodes?: Array<{ host: string, port: number }>
  /** acks wait until this many replicas hold the message (WAIT); 0 = once the master has it */
  ackReplicas?: number
  ackTimeoutMs?: number
  /** namespaces every key and channel */
  prefix: string
  historySize: number
  historyTtlMs: number
  /** how long a dead instance's members stay listed at most; heartbeats go out every third of it */
  presenceTtlMs: number
  /** above this many members a room sends no join/leave events and no names in the welcome */
  presenceMaxMembers?: number
  /** a room with no members and no new message for this long expires with its history (0 or unset = never) */
  roomIdleTtlMs?: number
  /** rooms held at most, across instances: a new one evicts the least recently active room without members, else is refused (0 or unset: no cap) */
  maxRooms?: number
  /** UTF-8 bytes of every held message together, across rooms and instances; the oldest go first (0 or unset: no cap) */
  historyMaxBytes?: number
  onError?: (err: Error) => void
}

/**
 * The hub's state in Redis, shared by every instance with the same REDIS_URL and REDIS_PREFIX: the broker
 * (seq, epoch, history and cid dedupe per room; a pub/sub channel per room, heard only by the instances with members there) and presence (members per room, a
 * heartbeat per instance) over two connections, commands and subscriber, whatever the number of sockets.
 */
export class RedisStore implements HubStore {
  readonly #cmd: ScriptedRedis
  readonly #sub: Redis
  readonly #broker: Broker
  readonly #presence: Presence
  #closed = false

  constructor (opts: RedisStoreOptions) {
    const onError = (err: Error) => opts.onError?.(err)
    const keys = new Keys(opts.prefix, opts.clusterNodes !== undefined)
    const connections = redisConnections(opts)
    this.#cmd = connections.cmd
    this.#sub = connections.sub
    const scripts = new RoomScripts(this.#cmd, keys, opts, onError)
    this.#cmd.on('error', onError)
    this.#sub.on('error', onError)
    this.#presence = new Presence(this.#cmd, keys, opts, async (ev) => await this.#broker.announce(ev), onError, {
      watch: async (room) => await this.#broker.watch(room),
      unwatch: (room) => this.#broker.unwatch(room)
    }, scripts)
    this.#broker = new Broker(this.#cmd, this.#sub, keys, opts, this.#presence, onError, scripts)
    // an upgrade from the versions that kept every room in one set: at each connection, O(1) once it is gone
    if (!keys.cluster) this.#cmd.on('ready', () => { this.#adoptLegacyRooms(keys, opts).catch(onError) })
  }

  /**
   * The rooms listed in the set of the versions before the room bounds come under them (adopt.lua), a batch at a
   * time; then the set goes (UNLINK frees a big one off Redis's main thread). Instances doing it together, or one
   * that stopped halfway, only repeat what adopt.lua leaves alone.
   */
  async #adoptLegacyRooms (keys: Keys, bounds: RoomBounds): Promise<void> {
    let cursor = '0'
    do {
      const [next, rooms] = await this.#cmd.sscan(keys.legacyRooms, cursor, 'COUNT', 100)
      for (const room of rooms) await this.#cmd.rtAdopt(...roomArgs(keys, bounds, room))
      cursor = next
    } while (cursor !== '0')
    await this.#cmd.unlink(keys.legacyRooms)
  }

  get instanceId (): string {
    return this.#presence.instanceId
  }

  /** Connects both clients; resolves even when Redis is down (the clients keep retrying). */
  async start (): Promise<void> {
    await Promise.allSettled([this.#cmd.connect(), this.#broker.start()])
    await this.#presence.start()
  }

  /** undefined when both connections are usable, else why not */
  notReady (): string | undefined {
    if (this.#cmd.status !== 'ready') return `redis: command connection ${this.#cmd.status}`
    if (this.#sub.status !== 'ready') return `redis: subscriber connection ${this.#sub.status}`
    return undefined
  }

  setListener (listener: HubListener): void {
    this.#broker.setListener(listener)
  }

  async canCreate (room: string): Promise<boolean> {
    return await this.#broker.canCreate(room)
  }

  async publish (room: string, draft: Draft): Promise<PublishResult> {
    return await this.#broker.publish(room, draft)
  }

  async signal (ev: SignalEvent): Promise<void> {
    await this.#broker.signal(ev)
  }

  async backlog (room: string, since?: number, epoch?: string, limit?: number): Promise<Backlog> {
    return await this.#broker.backlog(room, since, epoch, limit)
  }

  async peek (room: string, since?: number, epoch?: string, limit?: number): Promise<Backlog | undefined> {
    return await this.#broker.peek(room, since, epoch, limit)
  }

  async join (room: string, member: Member): Promise<{ names: string[], count: number }> {
    return await this.#presence.join(room, member)
  }

  async leave (room: string, member: Member): Promise<void> {
    await this.#presence.leave(room, member)
  }

  async members (room: string): Promise<string[]> {
    return await this.#presence.members(room)
  }

  async summary (room: string): Promise<RoomSummary | undefined> {
    return await this.#broker.summary(room)
  }

  async rooms (limit?: number, after?: string): Promise<RoomsPage> {
    return await this.#broker.rooms(limit, after)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#presence.stop()
    this.#cmd.disconnect()
    this.#sub.disconnect()
  }
}

/**
 * The command connection (the scripts defined on it) and the subscriber, to one Redis, the master the Sentinels
 * name, or a Cluster: the store's, and createPublisher's (which never connects its subscriber). Both lazy.
 */
export function redisConnections (opts: Pick<RedisStoreOptions, 'url' | 'sentinels' | 'sentinelName' | 'clusterNodes'>): { cmd: ScriptedRedis, sub: Redis } {
  if (opts.clusterNodes !== undefined) {
    return { cmd: defineClusterScripts(clusterConnection(opts.clusterNodes, false)), sub: clusterConnection(opts.clusterNodes, true) }
  }
  // the subscriber queues its SUBSCRIBE until it is connected: it sends nothing else
  return { cmd: defineScripts(connection(opts, CLIENT_OPTIONS)), sub: connection(opts, { ...CLIENT_OPTIONS, enableOfflineQueue: true }) }
}

/** A connection to the one Redis (url) or to the master the Sentinels name. */
function connection (opts: Pick<RedisStoreOptions, 'url' | 'sentinels' | 'sentinelName'>, options: RedisOptions): Redis {
  if (opts.sentinels === undefined) return new Redis(opts.url ?? 'redis://127.0.0.1:6379', options)
  return new Redis({
    ...options,
    sentinels: opts.sentinels,
    name: opts.sentinelName ?? 'mymaster',
    // asked again at every reconnect, so a failover is followed without a restart
    sentinelRetryStrategy: (times) => Math.min(100 * times, 1000)
  })
}

/**
 * A Redis Cluster client: commands (no offline queue, as on one Redis), or the sharded subscriber (SSUBSCRIBE
 * on each room's master, queued until connected). Typed as Redis: the commands the hub sends are the same on
 * both, and a Cluster routes each to the master of its key's slot.
 */
function clusterConnection (nodes: Array<{ host: string, port: number }>, subscriber: boolean): Redis {
  const cluster = new Cluster(nodes, {
    lazyConnect: true,
    enableOfflineQueue: subscriber,
    shardedSubscribers: subscriber,
    clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
    redisOptions: { maxRetriesPerRequest: 1 }
  })
  return cluster as unknown as Redis
}
