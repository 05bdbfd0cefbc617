import { randomUUID } from 'node:crypto'
import { ReplyError } from 'ioredis'
import { call, roomArgs, type Keys, type RoomBounds } from './client.js'
import type { ScriptedRedis } from './scripts.js'
import type { RoomScripts } from './room-scripts.js'
import type { Member, PresenceEvent } from '../types.js'

export interface PresenceOptions extends RoomBounds {
  /** how long a dead instance's members stay listed at most; heartbeats go out every third of it */
  presenceTtlMs: number
  /** above this many members a room sends no join/leave events and no names in the welcome */
  presenceMaxMembers?: number | undefined
}

/** rooms whose keys expired that one heartbeat takes out of the room sets at most (prune.lua) */
const PRUNE_PER_BEAT = 1000

interface LocalMember { name: string, userId: string | undefined, refs: number }

/** The rooms' channels (Broker): subscribed while this instance has members in the room. */
export interface RoomWatch {
  watch (room: string): Promise<void>
  unwatch (room: string): void
}

/**
 * Room members across every instance (join.lua, leave.lua), and this instance's liveness: a key that
 * heartbeats refresh, whose expiry lets any other instance sweep the members of one that died.
 */
export class Presence {
  readonly instanceId = randomUUID()
  readonly #cmd: ScriptedRedis
  readonly #keys: Keys
  readonly #opts: PresenceOptions
  readonly #announce: (ev: PresenceEvent) => Promise<void>
  readonly #onError: (err: Error) => void
  /** this instance's members, to re-register them when Redis comes back empty */
  readonly #local = new Map<string, Map<string, LocalMember>>()
  /** per local room, its subscription: every join into the room waits for it before reading anything */
  readonly #watching = new Map<string, Promise<void>>()
  readonly #watch: RoomWatch
  #beat: NodeJS.Timeout | undefined
  readonly #scripts: RoomScripts

  constructor (cmd: ScriptedRedis, keys: Keys, opts: PresenceOptions, announce: (ev: PresenceEvent) => Promise<void>,
    onError: (err: Error) => void, watch: RoomWatch, scripts: RoomScripts) {
    this.#cmd = cmd
    this.#scripts = scripts
    this.#watch = watch
    this.#keys = keys
    this.#opts = opts
    this.#announce = announce
    this.#onError = onError
    cmd.on('ready', () => { this.#reregister().catch(onError) })
  }

  /** Starts the heartbeat and sends the first one (if Redis is up). */
  async start (): Promise<void> {
    const every = Math.max(100, Math.floor(this.#opts.presenceTtlMs / 3))
    this.#beat = setInterval(() => { this.#heartbeat().catch(this.#onError) }, every)
    this.#beat.unref()
    await this.#heartbeat().catch(() => {})
  }

  /** A clean stop: removes this instance's members at once instead of waiting for the TTL. */
  async stop (): Promise<void> {
    clearInterval(this.#beat)
    await this.#sweep(this.instanceId).catch(() => {})
    await this.#cmd.del(this.#keys.inst(this.instanceId)).catch(() => {})
  }

  hasLocal (room: string): boolean {
    return this.#local.has(room)
  }

  async count (room: string): Promise<number> {
    return await call(this.#cmd, async () => await this.#cmd.hlen(this.#keys.room(room, 'members')))
  }

  async join (room: string, member: Member): Promise<{ names: string[], count: number }> {
    let local = this.#local.get(room)
    let watching = this.#watching.get(room)
    if (local === undefined || watching === undefined) {
      local = new Map()
      this.#local.set(room, local)
      watching = this.#watch.watch(room)
      watching.catch(() => {}) // each join awaits it; a failed one forgets the room
      this.#watching.set(room, watching)
    }
    const max = this.#opts.presenceMaxMembers ?? Infinity
    const mine = local.get(member.key)
    if (mine !== undefined) {
      // another socket of a member this instance already registered: nothing changes in Redis
      mine.refs++
      try {
        await watching
        const count = await this.count(room)
        return { names: count > max ? [] : await this.members(room), count }
      } catch (err) {
        mine.refs-- // the caller treats a failed join as never joined: it will not leave
        throw err
      }
    }
    local.set(member.key, { name: member.name, userId: member.userId, refs: 1 })
    let added: number, count: number
    try {
      await watching
      ;[added, count] = await call(this.#cmd, async () => await this.#register(room, member.key, member.name, member.userId))
    } catch (err) {
      this.#forget(room, member.key)
      throw err
    }
    if (count > max) return { names: [], count } // a big room: no names, no join event (O(1) per join)
    if (added === 1) await this.#event('join', room, member)
    return { names: await this.members(room), count }
  }

  async leave (room: string, member: Member): Promise<void> {
    const mine = this.#local.get(room)?.get(member.key)
    if (mine === undefined || --mine.refs > 0) return
    this.#forget(room, member.key)
    const [value, count] = await call(this.#cmd, async () => await this.#unregister(this.instanceId, room, member.key))
    // the instance's room list stays bounded by the rooms it serves (a join meanwhile put the room back in #local)
    if (this.#keys.cluster && !this.#local.has(room)) await this.#cmd.srem(this.#keys.instRooms(this.instanceId), room).catch(() => {})
    if (value !== null && count < (this.#opts.presenceMaxMembers ?? Infinity)) await this.#event('leave', room, memberFrom(member.key, value))
  }

  async members (room: string): Promise<string[]> {
    return namesOf(await call(this.#cmd, async () => await this.#cmd.hvals(this.#keys.room(room, 'members'))))
  }

  async #event (type: PresenceEvent['type'], room: string, member: Member): Promise<void> {
    const ev: PresenceEvent = { type, room, name: member.name, ts: Date.now(), key: member.key }
    if (member.userId !== undefined) ev.userId = member.userId
    await this.#announce(ev)
  }

  /** Refreshes this instance's liveness key and removes the members of instances whose key expired. */
  async #heartbeat (): Promise<void> {
    if (this.#cmd.status !== 'ready') return
    const keys = this.#keys
    await this.#cmd.multi()
      .set(keys.inst(this.instanceId), '1', 'PX', this.#opts.presenceTtlMs)
      .sadd(keys.instances, this.instanceId)
      .exec()
    for (const id of await this.#cmd.smembers(keys.instances)) {
      if (id === this.instanceId) continue
      if (await this.#cmd.exists(keys.inst(id)) === 0) await this.#sweep(id)
    }
    // rooms whose keys expired, and messages past HISTORY_TTL_MS, stop counting toward MAX_ROOMS and
    // HISTORY_MAX_BYTES even when nothing else happens; every instance's beat does it (it is idempotent and costs
    // O(1) when nothing expired)
    if ((this.#opts.roomIdleTtlMs ?? 0) > 0 || (this.#opts.historyTtlMs ?? 0) > 0) {
      if (keys.cluster) await this.#scripts.prune(PRUNE_PER_BEAT)
      else await this.#cmd.rtPrune(...roomArgs(keys, this.#opts, '', [], [PRUNE_PER_BEAT]))
    }
  }

  /** Removes every member an instance registered; only the caller whose script removed a member publishes its leave. */
  async #sweep (id: string): Promise<void> {
    const keys = this.#keys
    // on a Cluster an instance's entries are in one set per room (the room's slot), listed in instRooms
    const sets = keys.cluster ? (await this.#cmd.smembers(keys.instRooms(id))).map((room) => keys.instMembers(id, room)) : [keys.instMembers(id, '')]
    for (const set of sets) {
      for (const entry of await this.#cmd.smembers(set)) {
        const [room, key] = entry.split('\n') as [string, string]
        const [value] = await this.#unregister(id, room, key)
        if (value !== null) await this.#event('leave', room, memberFrom(key, value))
      }
    }
    if (keys.cluster) await this.#cmd.multi().del(keys.instRooms(id)).srem(keys.instances, id).exec()
    else await this.#cmd.multi().del(keys.instMembers(id, '')).srem(keys.instances, id).exec()
  }

  /** After Redis came back (maybe empty), put this instance's members back (a no-op for those still there). */
  async #reregister (): Promise<void> {
    for (const [room, members] of this.#local) {
      for (const [key, m] of members) {
        try {
          await this.#register(room, key, m.name, m.userId)
        } catch (err) {
          // a room refused (MAX_ROOMS taken by other instances meanwhile) must not keep other rooms' members out
          if (!(err instanceof ReplyError)) throw err
          this.#onError(err as Error)
        }
      }
    }
    await this.#heartbeat()
  }

  async #register (room: string, key: string, name: string, userId: string | undefined): Promise<[number, number]> {
    const value = JSON.stringify(userId === undefined ? { name, inst: this.instanceId } : { name, userId, inst: this.instanceId })
    const keys = this.#keys
    // listed before the join: a crash between the two leaves a room whose sweep finds nothing, never a member no sweep finds
    if (keys.cluster) await this.#cmd.sadd(keys.instRooms(this.instanceId), room)
    return (await this.#scripts.run<[number, number]>('rtJoin', room,
      [keys.room(room, 'refs'), keys.instMembers(this.instanceId, room)], [key, value, `${room}\n${key}`]))[0]
  }

  /** Removes instance `id`'s registration of `key` in `room` (leave.lua). */
  async #unregister (id: string, room: string, key: string): Promise<[value: string | null, count: number]> {
    const keys = this.#keys
    return (await this.#scripts.run<[string | null, number]>('rtLeave', room,
      [keys.room(room, 'refs'), keys.instMembers(id, room)], [key, `${room}\n${key}`]))[0]
  }

  #forget (room: string, key: string): void {
    const local = this.#local.get(room)
    local?.delete(key)
    if (local?.size === 0) {
      this.#local.delete(room)
      this.#watching.delete(room)
      this.#watch.unwatch(room)
    }
  }
}

function namesOf (values: string[]): string[] {
  const names: string[] = []
  for (const v of values) names.push((JSON.parse(v) as { name: string }).name)
  return names
}

/** A member as its presence entry recorded it (name and user at join). */
function memberFrom (key: string, value: string): Member {
  const { name, userId } = JSON.parse(value) as { name: string, userId?: string }
  return { key, name, userId }
}
