import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { backlogOf, expiryCutoff, newEpoch } from '../history.js'
import { pageNames } from '../rooms-page.js'
import { call, touchRoom, type Keys } from './client.js'
import { UnavailableError } from '../errors.js'
import type { ScriptedRedis } from './scripts.js'
import { cidKey } from '../types.js'
import type { Backlog, ChatMessage, Draft, HubListener, PresenceEvent, PublishResult, RoomSummary, RoomsPage, SignalEvent } from '../types.js'

export interface BrokerOptions {
  historySize: number
  historyTtlMs: number
  /** a room with no members and no new message for this long expires (0 or unset = never) */
  roomIdleTtlMs?: number | undefined
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
 * Messages through Redis: seq, epoch, history and cid dedupe per room (publish.lua, backlog.lua), and the
 * one channel every instance subscribes to once, carrying messages (`m<epoch>\n<json>`) and presence events
 * (`p<json>`) to the instances with members in the room.
 */
export class Broker {
  readonly #cmd: ScriptedRedis
  readonly #sub: Redis
  readonly #keys: Keys
  readonly #opts: BrokerOptions
  readonly #rooms: LocalRooms
  #listener: HubListener | undefined
  /** last seq delivered per room, with its epoch: drops overlaps and fills gaps after the subscription was down */
  readonly #delivered = new Map<string, { epoch: string, seq: number }>()
  #subscribedOnce = false
  /**
   * the highest seq seen per room (published here, read, or heard on the channel, whatever the room), with its
   * epoch: a Redis whose seq is below it lost writes, and the room must get a new epoch before it accepts more
   */
  readonly #seen = new Map<string, Seen>()
  /** the Redis server last connected to (run_id, master_replid): another one may hold older state */
  #identity: string | undefined
  readonly #onError: (err: Error) => void

  constructor (cmd: ScriptedRedis, sub: Redis, keys: Keys, opts: BrokerOptions, rooms: LocalRooms, onError: (err: Error) => void) {
    this.#cmd = cmd
    this.#sub = sub
    this.#keys = keys
    this.#opts = opts
    this.#rooms = rooms
    this.#onError = onError
    cmd.on('ready', () => { this.#checkIdentity().catch(onError) })
    sub.on('message', (_channel: string, payload: string) => this.#onEvent(payload))
    sub.on('ready', () => {
      // ioredis resubscribes by itself; after an outage, deliver what was published meanwhile
      if (this.#subscribedOnce) this.#fillGaps().catch(onError)
      this.#subscribedOnce = true
    })
  }

  setListener (listener: HubListener): void {
    this.#listener = listener
  }

  /** Connects the subscriber and subscribes; resolves even when Redis is down (ioredis keeps retrying). */
  async start (): Promise<void> {
    await this.#sub.connect().then(async () => await this.#sub.subscribe(this.#keys.channel)).catch(() => {})
    if (this.#sub.status === 'ready') this.#subscribedOnce = true
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
    const keys = this.#keys
    const seen = this.#seen.get(room)
    const [[epoch, raw, dup]] = await call(this.#cmd, async () => await Promise.all([
      this.#cmd.rtPublish(
        keys.room(room, 'meta'), keys.room(room, 'hist'), keys.room(room, 'cids'), keys.rooms,
        room, newEpoch(), head, tail, cidKey(draft) ?? '', this.#opts.historySize, keys.channel,
        seen?.epoch ?? '', seen?.seq ?? 0
      ),
      touchRoom(this.#cmd, keys, room, this.#opts.roomIdleTtlMs)
    ]))
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

  async backlog (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog> {
    let [roomEpoch, seq, raws] = await this.#read(room)
    const seen = this.#seen.get(room)
    if (seen !== undefined && seen.epoch === roomEpoch && seen.seq > Number(seq)) {
      // Redis went back in time: a new epoch before anyone reads the old one's seqs as continuous
      await this.#verify(room, seen)
      ;[roomEpoch, seq, raws] = await this.#read(room)
    }
    this.#see(room, roomEpoch, Number(seq), false)
    return this.#backlogOf(roomEpoch, seq, raws, since, epoch, limit)
  }

  /** backlog() without creating anything: undefined when Redis holds no state for the room. */
  async peek (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog | undefined> {
    const keys = this.#keys
    const reply = await call(this.#cmd, async () => await this.#cmd.rtPeek(keys.room(room, 'meta'), keys.room(room, 'hist')))
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
    const keys = this.#keys
    return await call(this.#cmd, async () => await this.#cmd.rtBacklog(
      keys.room(room, 'meta'), keys.room(room, 'hist'), keys.room(room, 'cids'), newEpoch()))
  }

  /** Gives `room` a new epoch if its seq in Redis is below `seen` in the same epoch (reepoch.lua). */
  async #verify (room: string, seen: { epoch: string, seq: number }): Promise<void> {
    const keys = this.#keys
    const [epoch, seq] = await call(this.#cmd, async () => await this.#cmd.rtReepoch(
      keys.room(room, 'meta'), keys.room(room, 'hist'), keys.room(room, 'cids'), newEpoch(), seen.epoch, seen.seq))
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
    const server = await this.#cmd.info('server')
    const replication = await this.#cmd.info('replication')
    const identity = `${infoField(server, 'run_id')}/${infoField(replication, 'master_replid')}`
    const changed = this.#identity !== undefined && this.#identity !== identity
    this.#identity = identity
    if (!changed) return
    for (const [room, seen] of [...this.#seen]) await this.#verify(room, { epoch: seen.epoch, seq: seen.seq })
  }

  async summary (room: string): Promise<RoomSummary | undefined> {
    return (await this.#summaries([room]))[0]
  }

  /**
   * A page of the listing: the room names (one SMEMBERS: names only), then, for the page's rooms only, epoch
   * and seq from each meta hash and the member count, in one pipeline. History is never read. A listed room
   * whose meta and members are both gone (expired) is left out and taken off the set.
   */
  async rooms (limit = Infinity, after?: string): Promise<RoomsPage> {
    const names = await call(this.#cmd, async () => await this.#cmd.smembers(this.#keys.rooms))
    const page = pageNames(names, limit, after)
    const rooms: RoomSummary[] = []
    for (const s of await this.#summaries(page.names)) if (s !== undefined) rooms.push(s)
    return { rooms, next: page.more && page.names.length > 0 ? page.names[page.names.length - 1] : undefined }
  }

  async #summaries (names: string[]): Promise<Array<RoomSummary | undefined>> {
    if (names.length === 0) return []
    const keys = this.#keys
    const pipe = this.#cmd.pipeline()
    for (const room of names) pipe.hmget(keys.room(room, 'meta'), 'epoch', 'seq').hlen(keys.room(room, 'members'))
    const replies = await call(this.#cmd, async () => await pipe.exec())
    const out: Array<RoomSummary | undefined> = []
    const gone: string[] = []
    for (let i = 0; i < names.length; i++) {
      const room = names[i] as string
      const [metaErr, meta] = (replies?.[2 * i] ?? [null, null]) as [Error | null, Array<string | null> | null]
      const [countErr, count] = (replies?.[2 * i + 1] ?? [null, 0]) as [Error | null, number]
      if (metaErr !== null) throw metaErr
      if (countErr !== null) throw countErr
      const epoch = meta?.[0] ?? null
      if (epoch === null) {
        if (count === 0) gone.push(room)
        out.push(undefined) // no state (never published, or expired): nothing to show, nothing made
        continue
      }
      out.push({ room, members: count, seq: Number(meta?.[1] ?? 0), epoch })
    }
    // lazily, the set forgets rooms whose keys expired; a room re-created meanwhile is re-added by its next
    // publish or join, so a racing SREM costs at most its absence from one listing
    if (gone.length > 0) await this.#cmd.srem(keys.rooms, ...gone).catch(() => {})
    return out
  }

  /** Sends a presence event to every instance (each delivers it if it has members in the room). */
  async announce (ev: PresenceEvent): Promise<void> {
    await this.#cmd.publish(this.#keys.channel, `p${JSON.stringify(ev)}`)
  }

  /** Sends a signal to every instance on the one channel (`s<room>\n<key>\n<frame JSON>`); history is not touched. */
  async signal (ev: SignalEvent): Promise<void> {
    await call(this.#cmd, async () => await this.#cmd.publish(this.#keys.channel, `s${ev.room}\n${ev.key}\n${ev.raw}`))
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
      const last = this.#delivered.get(msg.room)
      if (last !== undefined && last.epoch === epoch && last.seq >= msg.seq) return // already delivered by a gap fill
      this.#delivered.set(msg.room, { epoch, seq: msg.seq })
      listener.message(msg, raw)
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

  /** The subscription was down: deliver, in order, what local rooms missed and Redis still holds. */
  async #fillGaps (): Promise<void> {
    for (const [room, last] of this.#delivered) {
      if (!this.#rooms.hasLocal(room)) continue
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
}

/** One `field:value` line of an INFO section ('' when absent). */
function infoField (info: string, field: string): string {
  const at = info.indexOf(`\n${field}:`)
  if (at === -1) return ''
  const start = at + field.length + 2
  const end = info.indexOf('\r', start)
  return info.slice(start, end === -1 ? undefined : end)
}
