// What the broker and presence share: the key layout, the connection settings and how a failed command is told.
import { ReplyError, type RedisOptions } from 'ioredis'
import { RoomLimitError, UnavailableError } from '../errors.js'

/** Every key and channel, under one prefix (REDIS_PREFIX), so deployments can share one Redis. */
export class Keys {
  /** zset room → last activity (ms): every room held, what MAX_ROOMS caps (room.lua keeps it) */
  readonly active: string
  /** zset room → last activity of the rooms without members: evictable, and expiring with ROOM_IDLE_TTL_MS */
  readonly idle: string
  /** zset room → global position of its oldest held message: HISTORY_MAX_BYTES drops the lowest first */
  readonly order: string
  /** hash room → UTF-8 bytes of its held messages */
  readonly roomBytes: string
  /** hash {bytes: every room's held bytes together, gseq: the last global position given} */
  readonly budget: string
  /** set of the instance ids with a heartbeat */
  readonly instances: string
  /**
   * set of every room ever used, kept by versions before the room bounds (one Redis only; never bounded, never
   * pruned): an upgraded instance brings the rooms it lists under the bounds, then removes it (RedisStore)
   */
  readonly legacyRooms: string

  /** what every key not of one room starts with: on a Cluster, one hash tag puts them all in one slot */
  readonly #global: string

  /** `cluster`: a Redis Cluster (global keys under the `{rt-global}` hash tag, instance sets per room) */
  constructor (readonly prefix: string, readonly cluster = false) {
    const g = this.#global = cluster ? `${prefix}{rt-global}:` : prefix
    this.active = `${g}rooms:active`
    this.idle = `${g}rooms:idle`
    this.order = `${g}hist:order`
    this.roomBytes = `${g}hist:rooms`
    this.budget = `${g}hist:budget`
    this.instances = `${g}instances`
    this.legacyRooms = `${prefix}rooms`
  }

  /** meta {epoch, seq}, hist, cids, gpos (global positions of hist's messages), members, refs */
  room (room: string, part: string): string {
    return `${this.prefix}room:{${room}}:${part}`
  }

  /**
   * The room's pub/sub channel, which only instances with members in the room subscribe to. Its hash tag is
   * the room's: on a Cluster it lives in the slot of the room's keys, so a script can publish to it.
   */
  channel (room: string): string {
    return `${this.prefix}room:{${room}}:ch`
  }

  /** an instance's liveness key (PX the presence TTL) */
  inst (id: string): string {
    return `${this.#global}inst:${id}`
  }

  /**
   * the `room\nkey` entries an instance registered: one set per instance, or on a Cluster one per instance and
   * room (in the room's slot, so join.lua and leave.lua touch only that slot) listed in `instRooms`
   */
  instMembers (id: string, room: string): string {
    return this.cluster ? `${this.prefix}room:{${room}}:inst:${id}` : `${this.prefix}inst:${id}:members`
  }

  /** Cluster: the rooms in which an instance registered members */
  instRooms (id: string): string {
    return `${this.#global}inst:${id}:rooms`
  }
}

/** The bounds on the state every instance shares; 0 or unset = no bound. */
export interface RoomBounds {
  /** MAX_ROOMS: rooms held at most; a new one evicts the least recently active room without members */
  maxRooms?: number | undefined
  /** HISTORY_MAX_BYTES: UTF-8 bytes of every held message together; the globally oldest go first */
  historyMaxBytes?: number | undefined
  /** ROOM_IDLE_TTL_MS: a room with no members and no activity for this long expires with its history */
  roomIdleTtlMs?: number | undefined
  /** HISTORY_TTL_MS: a message older than this leaves history, and the byte budget, when its room is read or written */
  historyTtlMs?: number | undefined
}

type Arg = string | number

/**
 * MAX_ROOMS for a script about `room`: a personal stream (`@<userId>`) is never refused for it, so users
 * filling the rooms cannot lock each other out of their own streams (its place is still counted and evictable).
 */
export function roomCap (bounds: RoomBounds, room: string): number {
  return room.charCodeAt(0) === 0x40 /* @ */ ? 0 : bounds.maxRooms ?? 0
}

/**
 * The arguments of a script built on room.lua (headers of room.lua and its parts): the shared keys (one Redis
 * only), the room's keys, `keys`, then the prefix, the room and the bounds, then `args`. `room` '' names no room (prune.lua).
 */
export function roomArgs (k: Keys, bounds: RoomBounds, room: string, keys: string[] = [], args: Arg[] = []): Arg[] {
  // a Cluster's scripts (room-cluster.lua) name no shared key: those are in another slot
  const out: Arg[] = k.cluster ? [] : [k.active, k.idle, k.order, k.roomBytes, k.budget]
  if (room !== '') {
    out.push(k.room(room, 'meta'), k.room(room, 'hist'), k.room(room, 'cids'), k.room(room, 'gpos'), k.room(room, 'members'))
  }
  for (const key of keys) out.push(key)
  out.push(k.prefix, room, roomCap(bounds, room), bounds.historyMaxBytes ?? 0, bounds.roomIdleTtlMs ?? 0, historyCutoff(bounds))
  for (const arg of args) out.push(arg)
  return out
}

/**
 * HISTORY_TTL_MS as room.lua takes it: the oldest `ts` a held message may have now, on this instance's clock (the
 * one the reader's filter uses, expiryCutoff); 0 when history does not expire.
 */
export function historyCutoff (bounds: RoomBounds): number {
  const ttl = bounds.historyTtlMs ?? 0
  return ttl > 0 ? Date.now() - ttl : 0
}

/** Both connections: fail fast while disconnected, retry the connection forever in the background. */
export const CLIENT_OPTIONS: RedisOptions = {
  // a chat message is refused with `unavailable`, never parked
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  lazyConnect: true,
  retryStrategy: (times) => Math.min(100 * times, 1000)
}

/** Runs a command; an outage becomes UnavailableError, a reply error (a bug) surfaces as itself. */
export async function call<T> (redis: { status: string }, fn: () => Promise<T>): Promise<T> {
  if (redis.status !== 'ready') throw new UnavailableError(`redis is ${redis.status}`)
  try {
    return await fn()
  } catch (err) {
    // room.lua's refusal at MAX_ROOMS; any other reply error is a bug (a script, a command), not an outage
    if (err instanceof ReplyError) {
      const { message } = err as Error
      throw message.startsWith('ROOMLIMIT') ? new RoomLimitError(`${message.slice(10)} (MAX_ROOMS, all with members)`) : err
    }
    throw new UnavailableError(`redis: ${(err as Error).message}`)
  }
}
