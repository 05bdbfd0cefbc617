import { randomUUID } from 'node:crypto'
import { backlogOf, expiryCutoff, History, newEpoch } from './history.js'
import { cidKey } from './types.js'
import type {
  Backlog, ChatMessage, Draft, HubListener, HubStore, Member, PresenceEvent, PublishResult, RoomSummary
} from './types.js'

export interface MemoryStoreOptions {
  historySize: number
  /** 0 = no expiry */
  historyTtlMs: number
  /** above this many members a room sends no join/leave events and no names in the welcome (default: no cap) */
  presenceMaxMembers?: number
  now?: () => number
}

interface PresenceEntry {
  name: string
  userId: string | undefined
  /** sockets holding this presence key (several tabs of one user count once) */
  refs: number
}

class RoomState {
  readonly epoch = newEpoch()
  seq = 0
  readonly members = new Map<string, PresenceEntry>()
  constructor (readonly history: History) {}

  get held (): History['held'] {
    return this.history.held
  }
}

const NO_LISTENER: HubListener = { message () {}, presence () {} }

/**
 * The embedded hub: rooms, gapless seq, bounded history, cid dedupe and presence in one process.
 * Everything happens synchronously inside each call, so seq order is delivery order.
 */
export class MemoryStore implements HubStore {
  readonly #rooms = new Map<string, RoomState>()
  readonly #size: number
  readonly #ttl: number
  readonly #presenceMax: number
  readonly #now: () => number
  #listener: HubListener = NO_LISTENER

  constructor (opts: MemoryStoreOptions) {
    this.#size = opts.historySize
    this.#ttl = opts.historyTtlMs
    this.#presenceMax = opts.presenceMaxMembers ?? Infinity
    this.#now = opts.now ?? Date.now
  }

  setListener (listener: HubListener): void {
    this.#listener = listener
  }

  async publish (room: string, draft: Draft): Promise<PublishResult> {
    const state = this.#state(room)
    this.#expire(state)
    const cid = cidKey(draft)
    if (cid !== undefined) {
      const original = state.history.original(cid)
      if (original !== undefined) return { message: original, epoch: state.epoch, duplicate: true }
    }
    const msg: ChatMessage = {
      type: 'message',
      id: randomUUID(),
      room,
      seq: ++state.seq,
      from: draft.from,
      text: draft.text,
      ts: this.#now()
    }
    if (draft.userId !== undefined) msg.userId = draft.userId
    state.history.hold(msg, cid)
    this.#listener.message(msg)
    return { message: msg, epoch: state.epoch, duplicate: false }
  }

  async backlog (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog> {
    // a never-seen room starts a new epoch here: a client holding an epoch or a seq for it has lost messages
    const state = this.#state(room)
    this.#expire(state)
    return backlogOf(state, since, epoch, limit)
  }

  async join (room: string, member: Member): Promise<{ names: string[], count: number }> {
    const state = this.#state(room)
    const entry = state.members.get(member.key)
    if (entry !== undefined) {
      entry.refs++
    } else {
      state.members.set(member.key, { name: member.name, userId: member.userId, refs: 1 })
      // presence in a big room would cost O(members) per join, O(members²) to fill it
      if (state.members.size <= this.#presenceMax) this.#emit('join', room, member)
    }
    const count = state.members.size
    return { names: count <= this.#presenceMax ? namesOf(state) : [], count }
  }

  async leave (room: string, member: Member): Promise<void> {
    const state = this.#rooms.get(room)
    const entry = state?.members.get(member.key)
    if (state === undefined || entry === undefined) return
    if (--entry.refs > 0) return
    state.members.delete(member.key)
    // the name and user the room was told at join, whichever socket of theirs leaves last
    if (state.members.size < this.#presenceMax) this.#emit('leave', room, { key: member.key, name: entry.name, userId: entry.userId })
    this.#expire(state)
    if (state.members.size === 0 && state.held.length === 0) this.#rooms.delete(room)
  }

  async members (room: string): Promise<string[]> {
    const state = this.#rooms.get(room)
    return state === undefined ? [] : namesOf(state)
  }

  async summary (room: string): Promise<RoomSummary> {
    const state = this.#state(room)
    return { room, members: state.members.size, seq: state.seq, epoch: state.epoch }
  }

  async rooms (): Promise<RoomSummary[]> {
    const out: RoomSummary[] = []
    for (const [room, state] of this.#rooms) {
      out.push({ room, members: state.members.size, seq: state.seq, epoch: state.epoch })
    }
    return out
  }

  async close (): Promise<void> {
    this.#rooms.clear()
  }

  #state (room: string): RoomState {
    let state = this.#rooms.get(room)
    if (state === undefined) {
      state = new RoomState(new History(this.#size))
      this.#rooms.set(room, state)
    }
    return state
  }

  #expire (state: RoomState): void {
    if (this.#ttl > 0) state.history.expire(expiryCutoff(this.#now(), this.#ttl))
  }

  #emit (type: PresenceEvent['type'], room: string, member: Member): void {
    const ev: PresenceEvent = { type, room, name: member.name, ts: this.#now(), key: member.key }
    if (member.userId !== undefined) ev.userId = member.userId
    this.#listener.presence(ev)
  }
}

function namesOf (state: RoomState): string[] {
  const names: string[] = []
  for (const entry of state.members.values()) names.push(entry.name)
  return names
}
