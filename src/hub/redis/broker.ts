import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { backlogOf, expiryCutoff, newEpoch } from '../history.js'
import { pageNames } from '../rooms-page.js'
import { call, historyCutoff, roomCap, type Keys, type RoomBounds } from './client.js'
import { UnavailableError } from '../errors.js'
import type { ScriptedRedis } from './scripts.js'
import type { RoomScripts } from './room-scripts.js'
import { cidKey } from '../types.js'
import type { Backlog, ChatMessage, Draft, HubListener, PresenceEvent, PublishResult, RoomSummary, RoomsPage, SignalEvent } from '../types.js'

export interface BrokerOptions extends RoomBounds {
  historySize: number
  historyTtlMs: number
  /** a publish resolves only once this many replicas hold it (WAIT); 0 = once the master has it */
  ackReplicas?: number | undefined
  ackTimeoutMs?: number | undefined
}

/** rooms whose highest (epoch, seq) an instance remembers, to tell when Redis went back in time */
const SEEN_MAX = 10_000

interface Seen {
  epoch: string
  /** highest seq known in `epoch` (published, read or heard) */
  seq: number
  /** highest seq heard on the channel in `epoch` */
  heard: number
}

/** What the broker asks of presence. */
export interface LocalRooms {
  /** true when this instance has members in `room`: only those rooms' events are delivered here */
  hasLocal (room: string): boolean
}

/**
 * Messages through Redis: seq, epoch, history and cid dedupe per room (publish.lua, backlog.lua), and one
 * channel per room carrying its messages (`m<epoch>\n<json>`) and presence events (`p<json>`). An instance
 * subscribes to a room's channel only while it has members there (watch, unwatch): it never receives, parses
 * or filters the traffic of rooms it does not serve.
 */
export class Broker {
  readonly #cmd: ScriptedRedis
  readonly #sub: Redis
  readonly #keys: Keys
  readonly #opts: BrokerOptions
  readonly #rooms: LocalRooms
  #listener: HubListener | undefined
  /**
   * last seq delivered per watched room, with its epoch: drops overlaps and fills gaps after the subscription
   * was down. Forgotten on unwatch: a room watched again starts from its next welcome's backlog.
   */
  readonly #delivered = new Map<string, { epoch: string, seq: number }>()
  #subscribedOnce = false
  /** per watched room whose gap is being filled from history: what came on its channel meanwhile, in order */
  readonly #filling = new Map<string, Array<{ epoch: string, msg: ChatMessage, raw: string }>>()
  /**
   * the highest seq seen per room (published here, read, or heard on a watched room's channel), with its
   * epoch: a Redis whose seq is below it lost writes, and the room must get a new epoch before it accepts more
   */
  readonly #seen = new Map<string, Seen>()
  /** the Redis server last connected to (run_id, master_replid): another one may hold older state */
  #identity: string | undefined
  readonly #onError: (err: Error) => void
  readonly #scripts: RoomScripts
  /** a Redis Cluster: sharded pub/sub (SSUBSCRIBE, SPUBLISH) on the room's slot */
  readonly #cluster: boolean

  constructor (cmd: ScriptedRedis, sub: Redis, keys: Keys, opts: BrokerOptions, rooms: LocalRooms, onError: (err: Error) => void,
    scripts: RoomScripts) {
    this.#cmd = cmd
    this.#sub = sub
    this.#keys = keys
    this.#opts = opts
    this.#rooms = rooms
    this.#onError = onError
    this.#scripts = scripts
    this.#cluster = keys.cluster
    cmd.on('ready', () => { this.#checkIdentity().catch(onError) })
    // a Cluster's master failed over (or a node came or went): the rooms this instance remembers are checked
    // for lost writes, as after a Sentinel failover (the replica promoted may lag)
    if (this.#cluster) cmd.on('-node', () => { this.#verifyAll().catch(onError) })
    sub.on(this.#cluster ? 'smessage' : 'message', (_channel: string, payload: string) => this.#onEvent(payload))
    sub.on('ready', () => {
      // ioredis resubscribes by itself (every watched room); after an outage, deliver what was published meanwhile
      if (this.#subscribedOnce) this.#fillGaps().catch(onError)
      this.#subscribedOnce = true
    })
  }

  setListener (listener: HubListener): void {
    this.#listener = listener
  }

  /** Connects the subscriber; resolves even when Redis is down (ioredis keeps retrying). */
  async start (): Promise<void> {
    await this.#sub.connect().catch(() => {})
    if (this.#sub.status === 'ready') this.#subscribedOnce = true
  }

  /**
   * The first local member of `room` is joining: its channel is subscribed before the join goes on, so that
   * whatever is published after the join reads its backlog reaches this instance (the hub drops what that
   * backlog already held). Refused while the subscriber is down: nothing would fill the gap for a room that
   * has not delivered anything here yet. ioredis subscribes again by itself after a reconnect.
   */
  async watch (room: string): Promise<void> {
    const channel = this.#keys.channel(room)
    await call(this.#sub, async () => await (this.#cluster ? this.#sub.ssubscribe(channel) : this.#sub.subscribe(channel)))
  }

  /**
   * The last local member left. Commands on one connection run in order, so an unsubscribe followed by the
   * next first member's subscribe leaves the room subscribed.
   */
  unwatch (room: string): void {
    this.#delivered.delete(room)
    const channel = this.#keys.channel(room)
    ;(this.#cluster ? this.#sub.sunsubscribe(channel) : this.#sub.unsubscribe(channel)).catch(() => {})
  }

  async publish (room: string, draft: Draft): Promise<PublishResult> {
    const ts = Date.now()
    const id = randomUUID()
    // the message is serialised here once, around the seq Redis allocates
    const head = `{"type":"message","id":${JSON.stringify(id)},"room":${JSON.stringify(room)},"seq":`
    let tail = `,"from":${JSON.stringify(draft.from)}`
    if (draft.event !== undefined) tail += `,"event":${JSON.stringify(draft.event)}`
    // data passes through as the JSON it already is
    tail += draft.text !== undefined ? `,"text":${JSON.stringify(draft.text)}` : `,"data":${draft.dataJson ?? JSON.stringify(draft.data)}`
    tail += `,"ts":${ts}`
    if (draft.userId !== undefined) tail += `,"userId":${JSON.stringify(draft.userId)}`
    tail += '}'
    const k = this.#keys
    const o = this.#opts
    const seen = this.#seen.get(room)
    if (this.#cluster) return await this.#publishOnCluster(room, head, tail, draft, seen)
    // room.lua's arguments spelt out (roomArgs would build an array per message)
    const [epoch, raw, dup] = await call(this.#cmd, async () => await this.#cmd.rtPublish(
      k.active, k.idle, k.order, k.roomBytes, k.budget,
      k.room(room, 'meta'), k.room(room, 'hist'), k.room(room, 'cids'), k.room(room, 'gpos'), k.room(room, 'members'),
      k.prefix, room, roomCap(o, room), o.historyMaxBytes ?? 0, o.roomIdleTtlMs ?? 0, historyCutoff(o),
      newEpoch(), head, tail, cidKey(draft) ?? '', o.historySize, k.channel(room), seen?.epoch ?? '', seen?.seq ?? 0
    ))
    const message = JSON.parse(raw) as ChatMessage
    this.#see(room, epoch, message.seq, false)
    const replicas = this.#opts.ackReplicas ?? 0
    if (replicas > 0) {
      // a duplicate waits too: its original may not have reached a replica yet. WAIT covers every write this
      // connection made before it, the script's included.
      const timeout = this.#opts.ackTimeoutMs ?? 1000
      const acked = await call(this.#cmd, async () => await this.#cmd.wait(replicas, timeout))
      if (acked < replicas) throw new UnavailableError(`redis: ${acked} of ${replicas} replicas confirmed the message in ${timeout} ms`)
    }
    return { message, epoch, duplicate: dup === 1 }
  }

  /** publish() on a Cluster: the room's script, its report to global.lua, and the WAIT on the room's master */
  async #publishOnCluster (room: string, head: string, tail: string, draft: Draft, seen: Seen | undefined): Promise<PublishResult> {
    const k = this.#keys
    const o = this.#opts
    const replicas = o.ackReplicas ?? 0
    const timeoutMs = o.ackTimeoutMs ?? 1000
    const [[epoch, raw, dup], acked] = await call(this.#cmd, async () => await this.#scripts.run<[string, string, number]>('rtPublish', room, [],
      [newEpoch(), head, tail, cidKey(draft) ?? '', o.historySize, k.channel(room), seen?.epoch ?? '', seen?.seq ?? 0],
      { replicas, timeoutMs }))
    const message = JSON.parse(raw) as ChatMessage
    this.#see(room, epoch, message.seq, false)
    if (acked < replicas) throw new UnavailableError(`redis: ${acked} of ${replicas} replicas confirmed the message in ${timeoutMs} ms`)
    return { message, epoch, duplicate: dup === 1 }
  }

  async backlog (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog> {
    let [roomEpoch, seq, raws] = await this.#read(room)
    const seen = this.#seen.get(room)
    if (seen !== undefined && seen.epoch === roomEpoch && seen.seq > Number(seq)) {
      // Redis went back in time: a new epoch before anyone reads the old one's seqs as continuous
      await this.#verify(room, seen)
      ;[roomEpoch, seq, raws] = await this.#read(room)
    }
    this.#see(room, roomEpoch, Number(seq), false)
    // (a Cluster's sharded subscriber has a connection per master, which a PING here would not go through)
    if (!this.#cluster && this.#rooms.hasLocal(room) && this.#sub.status === 'ready') {
      // a message published before this read may still be on its way on the subscriber connection and would
      // reach a member after the welcome that already holds it: Redis answers this PING on that connection
      // after everything it published there, so it arrives first and the join's queue drops it
      await this.#sub.ping().catch(() => {})
    }
    return this.#backlogOf(roomEpoch, seq, raws, since, epoch, limit)
  }

  /** backlog() without creating anything: undefined when Redis holds no state for the room. */
  async peek (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog | undefined> {
    const [reply] = await call(this.#cmd, async () => await this.#scripts.run<[string, string, string[]] | null>('rtPeek', room, [], []))
    return reply === null ? undefined : this.#backlogOf(reply[0], reply[1], reply[2], since, epoch, limit)
  }

  #backlogOf (roomEpoch: string, seq: string, raws: string[], since: number | undefined, epoch: string | undefined, limit: number): Backlog {
    const cutoff = expiryCutoff(Date.now(), this.#opts.historyTtlMs)
    const held: Array<{ msg: ChatMessage }> = []
    for (const raw of raws) {
      const msg = JSON.parse(raw) as ChatMessage
      if (msg.ts >= cutoff) held.push({ msg })
    }
    return backlogOf({ epoch: roomEpoch, seq: Number(seq), held }, since, epoch, limit)
  }

  async #read (room: string): Promise<[epoch: string, seq: string, raws: string[]]> {
    return (await call(this.#cmd, async () => await this.#scripts.run<[string, string, string[]]>('rtBacklog', room, [], [newEpoch()])))[0]
  }

  /** Gives `room` a new epoch if its seq in Redis is below `seen` in the same epoch (reepoch.lua). */
  async #verify (room: string, seen: { epoch: string, seq: number }): Promise<void> {
    const [[epoch, seq]] = await call(this.#cmd, async () => await this.#scripts.run<[string | null, number]>('rtReepoch', room, [],
      [newEpoch(), seen.epoch, seen.seq]))
    if (epoch !== null && epoch !== seen.epoch) this.#seen.set(room, { epoch, seq, heard: 0 })
  }

  /**
   * Remembers the highest seq of a room's epoch (`heard`: it came on the channel); another epoch replaces it
   * (the room's newer life).
   */
  #see (room: string, epoch: string, seq: number, heard: boolean): void {
    const seen = this.#seen.get(room)
    if (seen === undefined) {
      // bounded: a room forgotten here is only checked by the instances that still remember it
      if (this.#seen.size >= SEEN_MAX) this.#seen.delete(this.#seen.keys().next().value as string)
      this.#seen.set(room, { epoch, seq, heard: heard ? seq : 0 })
      return
    }
    if (seen.epoch !== epoch) {
      seen.epoch = epoch
      seen.seq = seq
      seen.heard = heard ? seq : 0
      return
    }
    if (seq > seen.seq) seen.seq = seq
    if (heard && seq > seen.heard) seen.heard = seq
  }

  /**
   * On every (re)connect of the command connection: another Redis server (restarted, or a replica promoted by a
   * failover) may hold older state, so every room this instance remembers is checked at once, before any
   * instance that does not remember it publishes on top of the lost seqs.
   */
  async #checkIdentity (): Promise<void> {
    if (this.#cluster) {
      // each master has its own identity, and INFO goes to any node: after a reconnect every remembered room is checked
      if (this.#identity !== undefined) await this.#verifyAll()
      this.#identity = 'cluster'
      return
    }
    const server = await this.#cmd.info('server')
    const replication = await this.#cmd.info('replication')
    const identity = `${infoField(server, 'run_id')}/${infoField(replication, 'master_replid')}`
    const changed = this.#identity !== undefined && this.#identity !== identity
    this.#identity = identity
    if (!changed) return
    await this.#verifyAll()
  }

  async #verifyAll (): Promise<void> {
    for (const [room, seen] of [...this.#seen]) await this.#verify(room, { epoch: seen.epoch, seq: seen.seq })
  }

  /**
   * MAX_ROOMS, asked before an upgrade: true when `room` is held, a place is free, or a room without members can
   * be evicted for it. A hint (another instance may take the place meanwhile): the scripts decide. With Redis
   * down it says yes: the join that follows reports the outage the way every other call does (4003).
   */
  async canCreate (room: string): Promise<boolean> {
    const max = roomCap(this.#opts, room)
    if (max <= 0) return true
    const k = this.#keys
    let replies: Array<[Error | null, unknown]> | null
    try {
      replies = await call(this.#cmd, async () => await this.#cmd.multi().zscore(k.active, room).zcard(k.active).zcard(k.idle).exec())
    } catch (err) {
      if (err instanceof UnavailableError) return true
      throw err
    }
    const [held, count, idle] = (replies ?? []).map(([err, value]) => { if (err !== null) throw err; return value }) as [string | null, number, number]
    return held !== null || count < max || idle > 0
  }

  async summary (room: string): Promise<RoomSummary | undefined> {
    return (await this.#summaries([room]))[0]
  }

  /**
   * A page of the listing: the room names (one ZRANGE of the held rooms: names only), then, for the page's rooms
   * only, epoch and seq from each meta hash and the member count, in one pipeline. History is never read. A room
   * whose meta is gone (expired, not yet pruned) is left out.
   */
  async rooms (limit = Infinity, after?: string): Promise<RoomsPage> {
    const names = await call(this.#cmd, async () => await this.#cmd.zrange(this.#keys.active, '0', '-1'))
    const page = pageNames(names, limit, after)
    const rooms: RoomSummary[] = []
    for (const s of await this.#summaries(page.names)) if (s !== undefined) rooms.push(s)
    return { rooms, next: page.more && page.names.length > 0 ? page.names[page.names.length - 1] : undefined }
  }

  async #summaries (names: string[]): Promise<Array<RoomSummary | undefined>> {
    if (names.length === 0) return []
    const keys = this.#keys
    if (this.#cluster) return await this.#summariesOnCluster(names)
    const pipe = this.#cmd.pipeline()
    for (const room of names) pipe.hmget(keys.room(room, 'meta'), 'epoch', 'seq').hlen(keys.room(room, 'members'))
    const replies = await call(this.#cmd, async () => await pipe.exec())
    const out: Array<RoomSummary | undefined> = []
    for (let i = 0; i < names.length; i++) {
      const room = names[i] as string
      const [metaErr, meta] = (replies?.[2 * i] ?? [null, null]) as [Error | null, Array<string | null> | null]
      const [countErr, count] = (replies?.[2 * i + 1] ?? [null, 0]) as [Error | null, number]
      if (metaErr !== null) throw metaErr
      if (countErr !== null) throw countErr
      const epoch = meta?.[0] ?? null
      if (epoch === null) {
        out.push(undefined) // no state (never published, or expired): nothing to show, nothing made
        continue
      }
      out.push({ room, members: count, seq: Number(meta?.[1] ?? 0), epoch })
    }
    return out
  }

  /** #summaries on a Cluster: rooms are in different slots, so no one pipeline; one call per room, together */
  async #summariesOnCluster (names: string[]): Promise<Array<RoomSummary | undefined>> {
    const keys = this.#keys
    return await call(this.#cmd, async () => await Promise.all(names.map(async (room): Promise<RoomSummary | undefined> => {
      const [epoch, seq] = await this.#cmd.hmget(keys.room(room, 'meta'), 'epoch', 'seq')
      if (epoch === null || epoch === undefined) return undefined
      return { room, members: await this.#cmd.hlen(keys.room(room, 'members')), seq: Number(seq ?? 0), epoch }
    })))
  }

  /** Sends a presence event to the instances with members in the room. */
  async announce (ev: PresenceEvent): Promise<void> {
    const channel = this.#keys.channel(ev.room)
    const payload = `p${JSON.stringify(ev)}`
    await (this.#cluster ? this.#cmd.spublish(channel, payload) : this.#cmd.publish(channel, payload))
  }

  /** Sends a signal to the instances with members in the room (`s<room>\n<key>\n<frame JSON>`); history is not touched. */
  async signal (ev: SignalEvent): Promise<void> {
    const channel = this.#keys.channel(ev.room)
    const payload = `s${ev.room}\n${ev.key}\n${ev.raw}`
    await call(this.#cmd, async () => await (this.#cluster ? this.#cmd.spublish(channel, payload) : this.#cmd.publish(channel, payload)))
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
      const seen = this.#seen.get(msg.room)
      if (seen !== undefined && seen.epoch === epoch && seen.heard >= msg.seq) {
        // the channel carries each seq once, in order: one heard again was reused by an instance that did not
        // know Redis lost writes. The room gets a new epoch now; this message is not delivered as the old one.
        this.#verify(msg.room, { epoch: seen.epoch, seq: seen.seq }).catch(this.#onError)
        return
      }
      this.#see(msg.room, epoch, msg.seq, true)
      if (!this.#rooms.hasLocal(msg.room)) return
      const held = this.#filling.get(msg.room)
      if (held !== undefined) {
        held.push({ epoch, msg, raw })
        return
      }
      const last = this.#delivered.get(msg.room)
      if (last !== undefined && last.epoch === epoch && msg.seq > last.seq + 1) {
        // a seq was skipped: published while the subscription was down or not yet back. History first.
        this.#fill(msg.room, last, [{ epoch, msg, raw }]).catch(this.#onError)
        return
      }
      this.#deliver(msg.room, epoch, msg, raw)
    } else if (kind === 0x73 /* s */) {
      // room names and member keys hold no newline (patterns, JWT subs): the frame is left as it is
      const nl = body.indexOf('\n')
      const room = body.slice(0, nl)
      if (!this.#rooms.hasLocal(room)) return
      const nl2 = body.indexOf('\n', nl + 1)
      listener.signal?.({ room, key: body.slice(nl + 1, nl2), raw: body.slice(nl2 + 1) })
    } else if (kind === 0x70 /* p */) {
      const ev = JSON.parse(body) as PresenceEvent
      if (this.#rooms.hasLocal(ev.room)) listener.presence(ev)
    }
  }

  /** Delivers a message once: not one at or below the room's last delivered seq in its epoch. */
  #deliver (room: string, epoch: string, msg: ChatMessage, raw?: string): void {
    const last = this.#delivered.get(room)
    if (last !== undefined && last.epoch === epoch && last.seq >= msg.seq) return
    this.#delivered.set(room, { epoch, seq: msg.seq })
    this.#listener?.message(msg, raw)
  }

  /**
   * Delivers, in order, what `room` missed after `from` and Redis still holds, then what its channel brought
   * meanwhile (`held`, and whatever arrives until the fill is done).
   */
  async #fill (room: string, from: { epoch: string, seq: number }, held: Array<{ epoch: string, msg: ChatMessage, raw: string }>): Promise<void> {
    this.#filling.set(room, held)
    try {
      const backlog = await this.backlog(room, from.seq, from.epoch)
      // lost or another epoch: clients learn it when they resume
      if (!backlog.truncated) for (const msg of backlog.messages) this.#deliver(room, backlog.epoch, msg)
    } finally {
      this.#filling.delete(room)
      for (const h of held) this.#deliver(room, h.epoch, h.msg, h.raw)
    }
  }

  /** The subscription was down: deliver, in order, what local rooms missed and Redis still holds. */
  async #fillGaps (): Promise<void> {
    for (const [room, last] of [...this.#delivered]) {
      if (!this.#rooms.hasLocal(room) || this.#filling.has(room)) continue
      await this.#fill(room, last, [])
    }
  }
}

/** One `field:value` line of an INFO section ('' when absent). */
function infoField (info: string, field: string): string {
  const at = info.indexOf(`\n${field}:`)
  if (at === -1) return ''
  const start = at + field.length + 2
  const end = info.indexOf('\r', start)
  return info.slice(start, end === -1 ? undefined : end)
}
