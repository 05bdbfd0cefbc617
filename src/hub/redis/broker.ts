import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { backlogOf, expiryCutoff, newEpoch } from '../history.js'
import { call, type Keys } from './client.js'
import type { ScriptedRedis } from './scripts.js'
import { cidKey } from '../types.js'
import type { Backlog, ChatMessage, Draft, HubListener, PresenceEvent, PublishResult, RoomSummary } from '../types.js'

export interface BrokerOptions {
  historySize: number
  historyTtlMs: number
}

/** What the broker asks of presence. */
export interface LocalRooms {
  /** true when this instance has members in `room`: only those rooms' events are delivered here */
  hasLocal (room: string): boolean
  /** members of `room` across every instance */
  count (room: string): Promise<number>
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

  constructor (cmd: ScriptedRedis, sub: Redis, keys: Keys, opts: BrokerOptions, rooms: LocalRooms, onError: (err: Error) => void) {
    this.#cmd = cmd
    this.#sub = sub
    this.#keys = keys
    this.#opts = opts
    this.#rooms = rooms
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
    let tail = `,"from":${JSON.stringify(draft.from)},"text":${JSON.stringify(draft.text)},"ts":${ts}`
    if (draft.userId !== undefined) tail += `,"userId":${JSON.stringify(draft.userId)}`
    tail += '}'
    const keys = this.#keys
    const [epoch, raw, dup] = await call(this.#cmd, async () => await this.#cmd.rtPublish(
      keys.room(room, 'meta'), keys.room(room, 'hist'), keys.room(room, 'cids'), keys.rooms,
      room, newEpoch(), head, tail, cidKey(draft) ?? '', this.#opts.historySize, keys.channel
    ))
    return { message: JSON.parse(raw) as ChatMessage, epoch, duplicate: dup === 1 }
  }

  async backlog (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog> {
    const keys = this.#keys
    const [roomEpoch, seq, raws] = await call(this.#cmd, async () => await this.#cmd.rtBacklog(
      keys.room(room, 'meta'), keys.room(room, 'hist'), keys.room(room, 'cids'), newEpoch()))
    const cutoff = expiryCutoff(Date.now(), this.#opts.historyTtlMs)
    const held: Array<{ msg: ChatMessage }> = []
    for (const raw of raws) {
      const msg = JSON.parse(raw) as ChatMessage
      if (msg.ts >= cutoff) held.push({ msg })
    }
    return backlogOf({ epoch: roomEpoch, seq: Number(seq), held }, since, epoch, limit)
  }

  async summary (room: string): Promise<RoomSummary> {
    const backlog = await this.backlog(room, undefined, undefined, 0)
    const members = await this.#rooms.count(room)
    return { room, members, seq: backlog.seq, epoch: backlog.epoch }
  }

  async rooms (): Promise<RoomSummary[]> {
    const rooms = await call(this.#cmd, async () => await this.#cmd.smembers(this.#keys.rooms))
    const out: RoomSummary[] = []
    for (const room of rooms.sort()) out.push(await this.summary(room))
    return out
  }

  /** Sends a presence event to every instance (each delivers it if it has members in the room). */
  async announce (ev: PresenceEvent): Promise<void> {
    await this.#cmd.publish(this.#keys.channel, `p${JSON.stringify(ev)}`)
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
      if (!this.#rooms.hasLocal(msg.room)) return
      const last = this.#delivered.get(msg.room)
      if (last !== undefined && last.epoch === epoch && last.seq >= msg.seq) return // already delivered by a gap fill
      this.#delivered.set(msg.room, { epoch, seq: msg.seq })
      listener.message(msg, raw)
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
