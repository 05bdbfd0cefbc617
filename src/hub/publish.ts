// What a publish from outside a socket takes and returns: app.realtime.publish and the publisher (another
// process) check it the same way the HTTP API does, so all three refuse and accept the same messages.
import { NAME_MAX, checkRoom, checkText, parseName, serialiseData } from '../protocol/chat.js'
import { EVENT_PATTERN, ROOM_PATTERN, USER_ID_MAX, USER_STREAM_PREFIX } from '../protocol/codes.js'
import type { Draft, PublishResult } from './types.js'

export interface PublishInput {
  /** an application event name (`^[A-Za-z0-9_.:-]{1,64}$`) clients can dispatch on */
  event?: string | undefined
  /** the body: `text`, or else `data` (any JSON value, at most MAX_DATA_BYTES serialised) */
  text?: string | undefined
  data?: unknown
  /** display name; default `server` */
  from?: string | undefined
  /** client id: a repeat of the same cid from the same sender returns the original (duplicate: true) */
  cid?: string | undefined
}

export interface Published { seq: number, id: string, epoch: string, duplicate: boolean }

/** A refused publish, with the HTTP status the API would answer. */
export class RealtimeError extends Error {
  override name = 'RealtimeError'
  constructor (readonly statusCode: number, message: string) { super(message) }
}

const EVENT = new RegExp(EVENT_PATTERN)

export interface DraftLimits {
  /** CHAT_MAX_LENGTH */
  maxLength: number
  /** MAX_DATA_BYTES */
  maxDataBytes: number
}

/** A user's personal stream (`@<userId>`), or a RealtimeError (400) for an id no token could carry. */
export function userStreamOf (userId: string): string {
  const stream = checkRoom(USER_STREAM_PREFIX + userId)
  if (stream === undefined) throw new RealtimeError(400, `invalid user id: 1-${USER_ID_MAX} characters, no control characters`)
  return stream
}

const ROOM = new RegExp(ROOM_PATTERN)

/** `room` when it is a room name (not a personal stream), else a RealtimeError (400). */
export function roomOf (room: string): string {
  if (!ROOM.test(room)) throw new RealtimeError(400, `invalid room ${JSON.stringify(room)}: ${ROOM_PATTERN}`)
  return room
}

/** The draft of a message, or a RealtimeError (400) naming what is wrong. */
export function draftOf (msg: PublishInput, limits: DraftLimits): Draft {
  const from = parseName(msg.from, () => 'server')
  if (!from.ok) throw new RealtimeError(400, `from: ${from.reason} (at most ${NAME_MAX})`)
  if ((msg.text === undefined) === !Object.hasOwn(msg, 'data')) throw new RealtimeError(400, 'a message needs exactly one of "data" and "text"')
  if (msg.event !== undefined && !EVENT.test(msg.event)) throw new RealtimeError(400, `event must match ${EVENT_PATTERN}`)
  const draft: Draft = { from: from.name, cid: msg.cid, sender: from.name }
  if (msg.event !== undefined) draft.event = msg.event
  if (msg.text !== undefined) {
    const invalid = checkText(msg.text, limits.maxLength)
    if (invalid !== undefined) throw new RealtimeError(400, invalid.type === 'error' ? invalid.message : 'invalid text')
    draft.text = msg.text
  } else {
    const json = serialiseData(msg.data, limits.maxDataBytes)
    if (typeof json !== 'string') throw new RealtimeError(400, json.type === 'error' ? json.message : 'invalid data')
    draft.data = msg.data
    draft.dataJson = json
  }
  return draft
}

export function publishedOf (result: PublishResult): Published {
  return { seq: result.message.seq, id: result.message.id, epoch: result.epoch, duplicate: result.duplicate }
}
