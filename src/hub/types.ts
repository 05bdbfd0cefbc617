// The hub's contract: what the chat route and the HTTP API need from a store of rooms. HubStore is the seam
// between this instance's sockets (hub.ts) and where seq, history and presence live: MemoryStore (one process)
// or RedisStore (every instance sharing a Redis), chosen by plugins/hub.ts from REDIS_URL.

import type { MessageFrame } from '../protocol/frames.js'

/** A message as held and delivered: the message frame of the protocol. */
export type ChatMessage = MessageFrame

export interface Draft {
  from: string
  /** the body: `text`, or else `data` (any JSON value) */
  text?: string | undefined
  data?: unknown
  /** `data` serialised, when the caller already did it (the Redis store writes it as it is) */
  dataJson?: string | undefined
  event?: string | undefined
  cid?: string | undefined
  /**
   * who publishes, for cid dedupe: a cid repeats only a message of the same sender in the room (the user id
   * with authentication, else the display name; the API caller's `from` over HTTP). Defaults to `from`.
   * Never holds a control character (names and JWT subs refuse them), so `sender\ncid` is unambiguous.
   */
  sender?: string | undefined
  userId?: string | undefined
}

export interface PublishResult {
  message: ChatMessage
  epoch: string
  /** true when `cid` repeated a held message: nothing was broadcast, `message` is the original */
  duplicate: boolean
}

export interface Backlog {
  epoch: string
  /** the room's latest seq (0 when nothing was ever published in this epoch) */
  seq: number
  /** held messages after `since`, oldest first */
  messages: ChatMessage[]
  /** messages the caller has not seen were dropped, or its epoch/seq do not belong to this room state */
  truncated: boolean
}

export interface Member {
  /** presence identity: a connection id, or a user id when one user may hold several sockets */
  key: string
  name: string
  /** the authenticated user (AUTH_MODE=jwt); join/leave frames carry it */
  userId?: string | undefined
}

export interface PresenceEvent {
  type: 'join' | 'leave'
  room: string
  name: string
  ts: number
  key: string
  userId?: string | undefined
}

export interface RoomSummary {
  room: string
  members: number
  seq: number
  epoch: string
}

/** One page of the room listing, in room-name order. */
export interface RoomsPage {
  rooms: RoomSummary[]
  /** the last room of this page when more may follow (pass it as `after` for the next page); else undefined */
  next: string | undefined
}

/** An ephemeral event for a room's local members but the sender (`key`, its presence key): never held. */
export interface SignalEvent {
  room: string
  key: string
  /** the signal frame's JSON, built once by the sender's instance */
  raw: string
}

export interface HubListener {
  /** a message accepted anywhere, to be delivered to this instance's members of `msg.room`;
   * `raw` is its JSON when the store already has it (no second serialisation) */
  message (msg: ChatMessage, raw?: string): void
  presence (event: PresenceEvent): void
  signal?: (event: SignalEvent) => void
}

/** The key a store indexes a cid under: per sender, so one sender's cid never answers for another's message. */
export function cidKey (draft: Draft): string | undefined {
  return draft.cid === undefined ? undefined : `${draft.sender ?? draft.from}\n${draft.cid}`
}

export interface HubStore {
  setListener (listener: HubListener): void
  /** false when `room` is new and the store cannot take another (MAX_ROOMS, none evictable): refuse before joining */
  canCreate (room: string): Promise<boolean>
  publish (room: string, draft: Draft): Promise<PublishResult>
  /** Delivers a signal to the room's members on every instance, without seq or history. */
  signal (event: SignalEvent): Promise<void>
  /** The backlog for a member joining: creates the room's state (a new epoch) when it has none. */
  backlog (room: string, since?: number, epoch?: string, limit?: number): Promise<Backlog>
  /** The same read for an outside reader: undefined, and nothing created, when the store holds no such room. */
  peek (room: string, since?: number, epoch?: string, limit?: number): Promise<Backlog | undefined>
  /**
   * Adds a member; resolves with the member count after the join and their names — all of them up to the
   * presence cap, none above it (a big room's welcome must not cost O(members)).
   */
  join (room: string, member: Member): Promise<{ names: string[], count: number }>
  leave (room: string, member: Member): Promise<void>
  members (room: string): Promise<string[]>
  /** undefined, and nothing created, when the store holds no such room */
  summary (room: string): Promise<RoomSummary | undefined>
  /** At most `limit` rooms whose names sort after `after`, in name order; never reads history. */
  rooms (limit?: number, after?: string): Promise<RoomsPage>
  close (): Promise<void>
}
