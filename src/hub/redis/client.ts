// What the broker and presence share: the key layout, the connection settings and how a failed command is told.
import { ReplyError, type Redis, type RedisOptions } from 'ioredis'
import { UnavailableError } from '../errors.js'
import type { ScriptedRedis } from './scripts.js'

/** Every key and channel, under one prefix (REDIS_PREFIX), so deployments can share one Redis. */
export class Keys {
  /** set of every room ever published to or joined */
  readonly rooms: string
  /** set of the instance ids with a heartbeat */
  readonly instances: string

  constructor (readonly prefix: string) {
    this.rooms = `${prefix}rooms`
    this.instances = `${prefix}instances`
  }

  /** meta {epoch, seq}, hist, cids, members, refs */
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
    return `${this.prefix}inst:${id}`
  }

  /** the `room\nkey` entries an instance registered */
  instMembers (id: string): string {
    return `${this.prefix}inst:${id}:members`
  }
}

/**
 * Starts or stops a room's idle clock (touch.lua) when ROOM_IDLE_TTL_MS is on (> 0): its state expires once
 * no member holds it. Sent without waiting on the command it follows: ioredis writes both at once, so it
 * costs no round trip of its own.
 */
export async function touchRoom (cmd: ScriptedRedis, keys: Keys, room: string, idleTtlMs: number | undefined): Promise<void> {
  if (idleTtlMs === undefined || idleTtlMs <= 0) return
  await cmd.rtTouch(keys.room(room, 'meta'), keys.room(room, 'hist'), keys.room(room, 'cids'), keys.room(room, 'members'), idleTtlMs)
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
export async function call<T> (redis: Redis, fn: () => Promise<T>): Promise<T> {
  if (redis.status !== 'ready') throw new UnavailableError(`redis is ${redis.status}`)
  try {
    return await fn()
  } catch (err) {
    // a reply error is a bug (a script, a command), not an outage: let it surface as itself
    if (err instanceof ReplyError) throw err
    throw new UnavailableError(`redis: ${(err as Error).message}`)
  }
}
