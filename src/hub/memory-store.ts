import { randomUUID } from 'node:crypto'
import { RoomLimitError } from './errors.js'
import { backlogOf, ByteBudget, expiryCutoff, History, newEpoch } from './history.js'
import { pageOf } from './rooms-page.js'
import { cidKey } from './types.js'
import type {
  Backlog, ChatMessage, Draft, HubListener, HubStore, Member, PresenceEvent, PublishResult, RoomSummary, RoomsPage, SignalEvent
} from './types.js'

export interface MemoryStoreOptions {
  historySize: number
  /** 0 = no expiry */
  historyTtlMs: number
  /** above this many members a room sends no join/leave events and no names in the welcome (default: no cap) */
  presenceMaxMembers?: number
  /** a room with no members and no message for this long is dropped with its history (0 or unset = never) */
  roomIdleTtlMs?: number
  /** rooms held at most: a new one evicts the least recently active room without members, else is refused (default: no cap) */
  maxRooms?: number
  /** UTF-8 bytes of every held message together, across rooms; the oldest go first (default: no cap) */
  historyMaxBytes?: number
  now?: () => number
}

/** how often the idle sweep runs at most: a room outlives its idle TTL by up to this */
const SWEEP_MAX_MS = 60_000

/** A presence key held by several sockets (tabs of one user), which count once. */
class Shared {
  constructor (readonly member: Member, public refs: number) {}
}

/**
 * A room's presence entry: the member as its socket gave it (no object of the store's own, since a socket may
 * be in many rooms), or a count once a second socket of the same user joins.
 */
type Presence = Member | Shared

const memberOf = (entry: Presence): Member => entry instanceof Shared ? entry.member : entry

class RoomState {
  readonly epoch = newEpoch()
  seq = 0
  readonly members = new Map<string, Presence>()
  constructor (readonly history: History, public active: number) {}

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
  /** in recency order, least recently active first (a room is deleted and set again on activity): the LRU */
  readonly #rooms = new Map<string, RoomState>()
  readonly #size: number
  readonly #ttl: number
  readonly #presenceMax: number
  readonly #idleTtl: number
  readonly #maxRooms: number
  readonly #budget: ByteBudget | undefined
  readonly #now: () => number
  readonly #sweeper: NodeJS.Timeout | undefined
  /** rooms without members: at MAX_ROOMS, whether a new room can evict one is O(1) (an upgrade asks) */
  #empty = 0
  /** personal streams held (rooms named `@<userId>`) */
  #personal = 0
  #listener: HubListener = NO_LISTENER

  constructor (opts: MemoryStoreOptions) {
    this.#size = opts.historySize
    this.#ttl = opts.historyTtlMs
    this.#presenceMax = opts.presenceMaxMembers ?? Infinity
    this.#idleTtl = opts.roomIdleTtlMs ?? 0
    this.#maxRooms = opts.maxRooms ?? Infinity
    this.#budget = opts.historyMaxBytes === undefined ? undefined : new ByteBudget(opts.historyMaxBytes)
    this.#now = opts.now ?? Date.now
    // HISTORY_TTL_MS is applied to a room when it is read or written; the sweep takes expired messages out of
    // the rooms nobody reads too, so they stop counting toward HISTORY_MAX_BYTES
    const expires = this.#ttl > 0 && this.#budget !== undefined
    if (this.#idleTtl > 0 || expires) {
      const every = Math.min(this.#idleTtl > 0 ? this.#idleTtl : Infinity, expires ? this.#ttl : Infinity)
      // one timer per store, whatever the number of rooms; unref'd: it must not hold the process open
      this.#sweeper = setInterval(() => this.sweep(), Math.min(SWEEP_MAX_MS, Math.max(100, every)))
      this.#sweeper.unref()
    }
  }

  /** the UTF-8 bytes of every held message (HISTORY_MAX_BYTES counts these) */
  get heldBytes (): number {
    return this.#budget?.bytes ?? 0
  }

  /**
   * Takes the messages older than HISTORY_TTL_MS out of every room (oldest first, through the byte budget's
   * queue: the cost is the messages that go), then drops the rooms with no members that saw no message and no
   * member for ROOM_IDLE_TTL_MS.
   */
  sweep (): void {
    if (this.#ttl > 0) this.#budget?.expire(expiryCutoff(this.#now(), this.#ttl))
    if (this.#idleTtl <= 0) return
    const cutoff = this.#now() - this.#idleTtl
    // least recently active first: the first room active since the cutoff ends the sweep
    for (const [room, state] of this.#rooms) {
      if (state.active > cutoff) break
      if (state.members.size === 0) this.#drop(room, state)
    }
  }

  async canCreate (room: string): Promise<boolean> {
    return this.#rooms.has(room) || this.#rooms.size < this.#maxRooms || this.#empty > 0 || this.#exempt(room)
  }

  /**
   * Personal streams (`@<userId>`) never make MAX_ROOMS refuse anyone: one is created whatever the count, and
   * a room is refused only when the rooms other than personal streams fill the cap. So users holding their
   * streams open cannot lock others out of new rooms, and a full set of rooms cannot stop a user's delivery.
   * Above the cap they are bounded by the users connected (a stream without members is evicted first).
   */
  #exempt (room: string): boolean {
    return room.charCodeAt(0) === 0x40 /* @ */ || this.#rooms.size - this.#personal < this.#maxRooms
  }

  setListener (listener: HubListener): void {
    this.#listener = listener
  }

  async publish (room: string, draft: Draft): Promise<PublishResult> {
    const state = this.#state(room)
    this.#touch(room, state)
    this.#expire(state)
    const cid = cidKey(draft)
    if (cid !== undefined) {
      const original = state.history.original(cid)
      if (original !== undefined) return { message: original, epoch: state.epoch, duplicate: true }
    }
    const msg: ChatMessage = { type: 'message', id: randomUUID(), room, seq: ++state.seq, from: draft.from, ts: this.#now() }
    if (draft.event !== undefined) msg.event = draft.event
    if (draft.text !== undefined) msg.text = draft.text
    else msg.data = draft.data
    if (draft.userId !== undefined) msg.userId = draft.userId
    // serialised once: its size is what the byte budget counts, and the hub frames the same string
    const raw = JSON.stringify(msg)
    state.history.hold(msg, cid, this.#budget === undefined ? 0 : Buffer.byteLength(raw))
    this.#listener.message(msg, raw)
    return { message: msg, epoch: state.epoch, duplicate: false }
  }

  async signal (ev: SignalEvent): Promise<void> {
    this.#listener.signal?.(ev)
  }

  async backlog (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog> {
    // a never-seen room starts a new epoch here: a client holding an epoch or a seq for it has lost messages
    const state = this.#state(room)
    this.#expire(state)
    return backlogOf(state, since, epoch, limit)
  }

  async peek (room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog | undefined> {
    const state = this.#rooms.get(room)
    if (state === undefined) return undefined
    this.#expire(state)
    return backlogOf(state, since, epoch, limit)
  }

  async join (room: string, member: Member): Promise<{ names: string[], count: number }> {
    const state = this.#state(room)
    this.#touch(room, state)
    const entry = state.members.get(member.key)
    if (entry instanceof Shared) {
      entry.refs++
    } else if (entry !== undefined) {
      state.members.set(member.key, new Shared(entry, 2))
    } else {
      if (state.members.size === 0) this.#empty--
      state.members.set(member.key, member)
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
    if (entry instanceof Shared) {
      if (--entry.refs === 1) state.members.set(member.key, entry.member)
      return
    }
    state.members.delete(member.key)
    if (state.members.size === 0) this.#empty++
    // the name and user the room was told at join, whichever socket of theirs leaves last
    if (state.members.size < this.#presenceMax) this.#emit('leave', room, entry)
    this.#expire(state)
    if (state.members.size === 0 && state.held.length === 0) this.#drop(room, state)
    // the idle clock starts when the last member leaves
    else if (state.members.size === 0) this.#touch(room, state)
  }

  async members (room: string): Promise<string[]> {
    const state = this.#rooms.get(room)
    return state === undefined ? [] : namesOf(state)
  }

  async summary (room: string): Promise<RoomSummary | undefined> {
    const state = this.#rooms.get(room)
    return state === undefined ? undefined : summaryOf(room, state)
  }

  async rooms (limit = Infinity, after?: string): Promise<RoomsPage> {
    return pageOf([...this.#rooms.keys()], limit, after, (room) => {
      const state = this.#rooms.get(room)
      return state === undefined ? undefined : summaryOf(room, state)
    })
  }

  async close (): Promise<void> {
    clearInterval(this.#sweeper)
    for (const [room, state] of this.#rooms) this.#drop(room, state)
  }

  /** The room's state, created when new; at MAX_ROOMS a new room first evicts an idle one, else RoomLimitError. */
  #state (room: string): RoomState {
    let state = this.#rooms.get(room)
    if (state === undefined) {
      if (this.#rooms.size >= this.#maxRooms) {
        const victim = this.#empty > 0 ? this.#evictable() : undefined
        if (victim !== undefined) this.#drop(victim[0], victim[1])
        else if (!this.#exempt(room)) throw new RoomLimitError(`room limit reached (${this.#maxRooms} rooms, all with members)`)
      }
      if (room.charCodeAt(0) === 0x40) this.#personal++
      state = new RoomState(new History(this.#size, this.#budget), this.#now())
      this.#rooms.set(room, state)
      this.#empty++
    }
    return state
  }

  /** The least recently active room without members, if any. */
  #evictable (): [string, RoomState] | undefined {
    for (const entry of this.#rooms) if (entry[1].members.size === 0) return entry
    return undefined
  }

  /** Moves a room to the most recently active end. */
  #touch (room: string, state: RoomState): void {
    state.active = this.#now()
    this.#rooms.delete(room)
    this.#rooms.set(room, state)
  }

  /** A dropped room's history goes with it (and leaves the byte budget); a later resume gets a new epoch. */
  #drop (room: string, state: RoomState): void {
    state.history.clear()
    if (state.members.size === 0) this.#empty--
    if (room.charCodeAt(0) === 0x40) this.#personal--
    this.#rooms.delete(room)
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

function summaryOf (room: string, state: RoomState): RoomSummary {
  return { room, members: state.members.size, seq: state.seq, epoch: state.epoch }
}

function namesOf (state: RoomState): string[] {
  const names: string[] = []
  for (const entry of state.members.values()) names.push(memberOf(entry).name)
  return names
}
