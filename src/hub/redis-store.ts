import { randomUUID } from 'node:crypto'
import { Redis, ReplyError, type RedisOptions } from 'ioredis'
import { backlogOf, expiryCutoff, newEpoch } from './history.js'
import { UnavailableError } from './errors.js'
import type {
  Backlog, ChatMessage, Draft, HubListener, HubStore, Member, PresenceEvent, PublishResult, RoomSummary
} from './types.js'

export interface RedisStoreOptions {
  url: string
  /** namespaces every key and channel */
  prefix: string
  historySize: number
  historyTtlMs: number
  /** how long a dead instance's members stay listed at most; heartbeats go out every third of it */
  presenceTtlMs: number
  /** above this many members a room sends no join/leave events and no names in the welcome */
  presenceMaxMembers?: number
  onError?: (err: Error) => void
}

// Allocation, dedupe, history and fan-out in one atomic step and one round trip. Scripts run one at a
// time, so PUBLISH order is seq order for every subscriber.
// KEYS: meta, hist, cids, rooms-set   ARGV: room, newEpoch, head, tail, cid, size, channel
const PUBLISH = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[2]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local size = tonumber(ARGV[6])
local cid = ARGV[5]
if cid ~= '' then
  local old = redis.call('ZSCORE', KEYS[3], cid)
  if old then
    local seq = tonumber(redis.call('HGET', KEYS[1], 'seq'))
    local held = redis.call('LLEN', KEYS[2])
    local idx = tonumber(old) - (seq - held + 1)
    if idx >= 0 then
      return {epoch, redis.call('LINDEX', KEYS[2], idx), 1}
    end
  end
end
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local msg = ARGV[3] .. seq .. ARGV[4]
redis.call('SADD', KEYS[4], ARGV[1])
if size > 0 then
  redis.call('RPUSH', KEYS[2], msg)
  redis.call('LTRIM', KEYS[2], -size, -1)
  if cid ~= '' then redis.call('ZADD', KEYS[3], seq, cid) end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', seq - size)
end
redis.call('PUBLISH', ARGV[7], 'm' .. epoch .. '\\n' .. msg)
return {epoch, msg, 0}
`

// The room's epoch (created if the state is new or was lost), seq and held history in one round trip.
// KEYS: meta, hist, cids   ARGV: newEpoch
const BACKLOG = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'seq', 0)
  redis.call('DEL', KEYS[2], KEYS[3])
end
return {epoch, redis.call('HGET', KEYS[1], 'seq'), redis.call('LRANGE', KEYS[2], 0, -1)}
`

// Presence counts a member once however many sockets hold its key (tabs of one user, on any instance):
// each instance registers a key once (its set inst:<id>:members guards that, so a re-registration after an
// outage cannot count twice) and the key's count across instances is in refs.
// KEYS: members, refs, inst-members, rooms-set   ARGV: key, value, entry, room
const JOIN = `
local added = 0
if redis.call('SADD', KEYS[3], ARGV[3]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[1], 1) == 1 then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    added = 1
  end
end
redis.call('SADD', KEYS[4], ARGV[4])
return {added, redis.call('HLEN', KEYS[1])}
`

// The last registration of a key gone: remove the member and return what it was (for the leave event).
// KEYS: members, refs, inst-members   ARGV: key, entry
const LEAVE = `
local value = false
if redis.call('SREM', KEYS[3], ARGV[2]) == 1 then
  if redis.call('HINCRBY', KEYS[2], ARGV[1], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[1])
    value = redis.call('HGET', KEYS[1], ARGV[1])
    redis.call('HDEL', KEYS[1], ARGV[1])
  end
end
return {value, redis.call('HLEN', KEYS[1])}
`

interface LocalMember { name: string, userId: string | undefined, refs: number }

type RedisWithScripts = Redis & {
  rtJoin (...args: Array<string | number>): Promise<[number, number]>
  rtLeave (...args: Array<string | number>): Promise<[string | null, number]>
  rtPublish (...args: Array<string | number>): Promise<[string, string, number]>
  rtBacklog (...args: Array<string | number>): Promise<[string, string, string[]]>
}

/**
 * The hub's state in Redis, shared by every instance with the same REDIS_URL and REDIS_PREFIX: seq, epoch,
 * history and cid dedupe per room; presence per room with a heartbeat per instance. Each instance
 * subscribes once to one channel and delivers what arrives to its own sockets.
 */
export class RedisStore implements HubStore {
  readonly instanceId = randomUUID()
  readonly #opts: RedisStoreOptions
  readonly #cmd: RedisWithScripts
  readonly #sub: Redis
  readonly #channel: string
  #listener: HubListener | undefined
  /** this instance's members, to re-register them when Redis comes back empty */
  readonly #local = new Map<string, Map<string, LocalMember>>()
  /** last seq delivered per room, with its epoch: drops overlaps and fills gaps after the subscription was down */
  readonly #delivered = new Map<string, { epoch: string, seq: number }>()
  #beat: NodeJS.Timeout | undefined
  #closed = false
  #subscribedOnce = false

  constructor (opts: RedisStoreOptions) {
    this.#opts = opts
    this.#channel = `${opts.prefix}events`
    const common: RedisOptions = {
      // fail fast while disconnected: a chat message is refused with `unavailable`, never parked
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: true,
      retryStrategy: (times) => Math.min(100 * times, 1000)
    }
    this.#cmd = new Redis(opts.url, common) as RedisWithScripts
    this.#sub = new Redis(opts.url, { ...common, enableOfflineQueue: true })
    this.#cmd.defineCommand('rtPublish', { numberOfKeys: 4, lua: PUBLISH })
    this.#cmd.defineCommand('rtBacklog', { numberOfKeys: 3, lua: BACKLOG })
    this.#cmd.defineCommand('rtJoin', { numberOfKeys: 4, lua: JOIN })
    this.#cmd.defineCommand('rtLeave', { numberOfKeys: 3, lua: LEAVE })
    const onError = (err: Error) => opts.onError?.(err)
    this.#cmd.on('error', onError)
    this.#sub.on('error', onError)
    this.#sub.on('message', (_channel: string, payload: string) => this.#onEvent(payload))
    this.#cmd.on('ready', () => { this.#reregister().catch(onError) })
    this.#sub.on('ready', () => {
      // ioredis resubscribes by itself; after an outage, deliver what was published meanwhile
      if (this.#subscribedOnce) this.#fillGaps().catch(onError)
      this.#subscribedOnce = true
    })
  }

  /** Connects both clients; resolves even when Redis is down (the clients keep retrying). */
  async start (): Promise<void> {
    await Promise.allSettled([this.#cmd.connect(), this.#sub.connect().then(async () => await this.#sub.subscribe(this.#channel))])
    if (this.#sub.status === 'ready' && !this.#subscribedOnce) this.#subscribedOnce = true
    const every = Math.max(100, Math.floor(this.#opts.presenceTtlMs / 3))
    this.#beat = setInterval(() => { this.#heartbeat().catch((err: Error) => this.#opts.onError?.(err)) }, every)
    this.#beat.unref()
    await this.#heartbeat().catch(() => {})
  }

  /** undefined when both connections are usable, else why not */
  notReady (): string | undefined {
    if (this.#cmd.status !== 'ready') return `redis: command connection ${this.#cmd.status}`
    if (this.#sub.status !== 'ready') return `redis: subscriber connection ${this.#sub.status}`
    return undefined
  }

  setListener (listener: HubListener): void {
    this.#listener = listener
  }

  async publish (room: string, draft: Draft): Promise<PublishResult> {
    const ts = Date.now()
    const id = randomUUID()
    // the message is serialised here once, around the seq Redis allocates
    const head = `{"type":"message","id":${JSON.stringify(id)},"room":${JSON.stringify(room)},"seq":`
    let tail = `,"from":${JSON.stringify(draft.from)},"text":${JSON.stringify(draft.text)},"ts":${ts}`
    if (draft.userId !== undefined) tail += `,"userId":${JSON.stringify(draft.userId)}`
    tail += '}'
    const [epoch, raw, dup] = await this.#call(async () => await this.#cmd.rtPublish(
      this.#key(room, 'meta'), this.#key(room, 'hist'), this.#key(room, 'cids'), `${this.#opts.prefix}rooms`,
      room, newEpoch(), head, tail, draft.cid ?? '', this.#opts.historySize, this.#channel
    ))
    return { message: JSON.parse(raw) as ChatMessage, epoch, duplicate: dup === 1 }
  }

  async backlog (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog> {
    const [roomEpoch, seq, raws] = await this.#call(async () => await this.#cmd.rtBacklog(
      this.#key(room, 'meta'), this.#key(room, 'hist'), this.#key(room, 'cids'), newEpoch()))
    const cutoff = expiryCutoff(Date.now(), this.#opts.historyTtlMs)
    const held: Array<{ msg: ChatMessage }> = []
    for (const raw of raws) {
      const msg = JSON.parse(raw) as ChatMessage
      if (msg.ts >= cutoff) held.push({ msg })
    }
    return backlogOf({ epoch: roomEpoch, seq: Number(seq), held }, since, epoch, limit)
  }

  async join (room: string, member: Member): Promise<{ names: string[], count: number }> {
    let local = this.#local.get(room)
    if (local === undefined) { local = new Map(); this.#local.set(room, local) }
    const max = this.#opts.presenceMaxMembers ?? Infinity
    const mine = local.get(member.key)
    if (mine !== undefined) {
      // another socket of a member this instance already registered: nothing changes in Redis
      mine.refs++
      try {
        const count = await this.#call(async () => await this.#cmd.hlen(this.#key(room, 'members')))
        return { names: count > max ? [] : await this.members(room), count }
      } catch (err) {
        mine.refs-- // the caller treats a failed join as never joined: it will not leave
        throw err
      }
    }
    local.set(member.key, { name: member.name, userId: member.userId, refs: 1 })
    let added: number, count: number
    try {
      [added, count] = await this.#call(async () => await this.#register(room, member.key, member.name, member.userId))
    } catch (err) {
      this.#forget(room, member.key)
      throw err
    }
    if (count > max) return { names: [], count } // a big room: no names, no join event (O(1) per join)
    if (added === 1) await this.#presence('join', room, member)
    return { names: await this.members(room), count }
  }

  async leave (room: string, member: Member): Promise<void> {
    const mine = this.#local.get(room)?.get(member.key)
    if (mine === undefined || --mine.refs > 0) return
    this.#forget(room, member.key)
    const [value, count] = await this.#call(async () => await this.#cmd.rtLeave(
      this.#key(room, 'members'), this.#key(room, 'refs'), this.#instMembers(this.instanceId), member.key, `${room}\n${member.key}`))
    if (value !== null && count < (this.#opts.presenceMaxMembers ?? Infinity)) await this.#presence('leave', room, memberFrom(member.key, value))
  }

  async members (room: string): Promise<string[]> {
    return namesOf(await this.#call(async () => await this.#cmd.hvals(this.#key(room, 'members'))))
  }

  async summary (room: string): Promise<RoomSummary> {
    const backlog = await this.backlog(room, undefined, undefined, 0)
    const members = await this.#call(async () => await this.#cmd.hlen(this.#key(room, 'members')))
    return { room, members, seq: backlog.seq, epoch: backlog.epoch }
  }

  async rooms (): Promise<RoomSummary[]> {
    const rooms = await this.#call(async () => await this.#cmd.smembers(`${this.#opts.prefix}rooms`))
    const out: RoomSummary[] = []
    for (const room of rooms.sort()) out.push(await this.summary(room))
    return out
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#beat)
    // a clean stop removes this instance's members at once instead of waiting for the TTL
    await this.#sweep(this.instanceId).catch(() => {})
    await this.#cmd.del(this.#instKey(this.instanceId)).catch(() => {})
    this.#cmd.disconnect()
    this.#sub.disconnect()
  }

  #onEvent (payload: string): void {
    const listener = this.#listener
    if (listener === undefined) return
    const kind = payload.charCodeAt(0)
    const body = payload.slice(1)
    if (kind === 0x6d /* m */) {
      const nl = body.indexOf('\n')
      const epoch = body.slice(0, nl)
      const raw = body.slice(nl + 1)
      const msg = JSON.parse(raw) as ChatMessage
      if (!this.#local.has(msg.room)) return
      const last = this.#delivered.get(msg.room)
      if (last !== undefined && last.epoch === epoch && last.seq >= msg.seq) return // already delivered by a gap fill
      this.#delivered.set(msg.room, { epoch, seq: msg.seq })
      listener.message(msg, raw)
    } else if (kind === 0x70 /* p */) {
      const ev = JSON.parse(body) as PresenceEvent
      if (this.#local.has(ev.room)) listener.presence(ev)
    }
  }

  async #presence (type: PresenceEvent['type'], room: string, member: Member): Promise<void> {
    const ev: PresenceEvent = { type, room, name: member.name, ts: Date.now(), key: member.key }
    if (member.userId !== undefined) ev.userId = member.userId
    await this.#cmd.publish(this.#channel, `p${JSON.stringify(ev)}`)
  }

  /** Refreshes this instance's liveness key and removes the members of instances whose key expired. */
  async #heartbeat (): Promise<void> {
    if (this.#cmd.status !== 'ready') return
    const instances = `${this.#opts.prefix}instances`
    await this.#cmd.multi()
      .set(this.#instKey(this.instanceId), '1', 'PX', this.#opts.presenceTtlMs)
      .sadd(instances, this.instanceId)
      .exec()
    for (const id of await this.#cmd.smembers(instances)) {
      if (id === this.instanceId) continue
      if (await this.#cmd.exists(this.#instKey(id)) === 0) await this.#sweep(id)
    }
  }

  /** Removes every member an instance registered; only the caller whose script removed a member publishes its leave. */
  async #sweep (id: string): Promise<void> {
    const entries = await this.#cmd.smembers(this.#instMembers(id))
    for (const entry of entries) {
      const [room, key] = entry.split('\n') as [string, string]
      const [value] = await this.#cmd.rtLeave(this.#key(room, 'members'), this.#key(room, 'refs'), this.#instMembers(id), key, entry)
      if (value !== null) await this.#presence('leave', room, memberFrom(key, value))
    }
    await this.#cmd.multi().del(this.#instMembers(id)).srem(`${this.#opts.prefix}instances`, id).exec()
  }

  /** After Redis came back (maybe empty), put this instance's members back (a no-op for those still there). */
  async #reregister (): Promise<void> {
    for (const [room, members] of this.#local) {
      for (const [key, m] of members) await this.#register(room, key, m.name, m.userId)
    }
    await this.#heartbeat()
  }

  async #register (room: string, key: string, name: string, userId: string | undefined): Promise<[number, number]> {
    const value = JSON.stringify(userId === undefined ? { name, inst: this.instanceId } : { name, userId, inst: this.instanceId })
    return await this.#cmd.rtJoin(this.#key(room, 'members'), this.#key(room, 'refs'), this.#instMembers(this.instanceId),
      `${this.#opts.prefix}rooms`, key, value, `${room}\n${key}`, room)
  }

  #forget (room: string, key: string): void {
    const local = this.#local.get(room)
    local?.delete(key)
    if (local?.size === 0) this.#local.delete(room)
  }

  /** The subscription was down: deliver, in order, what local rooms missed and Redis still holds. */
  async #fillGaps (): Promise<void> {
    for (const [room, last] of this.#delivered) {
      if (!this.#local.has(room)) continue
      const backlog = await this.backlog(room, last.seq, last.epoch)
      if (backlog.truncated) continue // lost or another epoch: clients learn it when they resume
      for (const msg of backlog.messages) {
        const seen = this.#delivered.get(room)
        if (seen !== undefined && seen.epoch === backlog.epoch && seen.seq >= msg.seq) continue
        this.#delivered.set(room, { epoch: backlog.epoch, seq: msg.seq })
        this.#listener?.message(msg)
      }
    }
  }

  async #call<T> (fn: () => Promise<T>): Promise<T> {
    if (this.#cmd.status !== 'ready') throw new UnavailableError(`redis is ${this.#cmd.status}`)
    try {
      return await fn()
    } catch (err) {
      // a reply error is a bug (a script, a command), not an outage: let it surface as itself
      if (err instanceof ReplyError) throw err
      throw new UnavailableError(`redis: ${(err as Error).message}`)
    }
  }

  #key (room: string, part: string): string {
    return `${this.#opts.prefix}room:{${room}}:${part}`
  }

  #instKey (id: string): string {
    return `${this.#opts.prefix}inst:${id}`
  }

  #instMembers (id: string): string {
    return `${this.#opts.prefix}inst:${id}:members`
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
