// What a publish from outside a socket takes and returns: app.realtime.publish and the publisher (another
// process) check it the same way the HTTP API does, so all three refuse and accept the same messages.
import { NAME_MAX, ROOM_PATTERN, checkText, parseName } from '../protocol/chat.js'
import type { Draft, PublishResult } from './types.js'

export interface PublishInput {
  text: string
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

const ROOM = new RegExp(ROOM_PATTERN)

/** The draft for `room`, or a RealtimeError (400) naming what is wrong. */
export function draftOf (room: string, msg: PublishInput, maxLength: number): Draft {
  if (!ROOM.test(room)) throw new RealtimeError(400, `invalid room ${JSON.stringify(room)}: ${ROOM_PATTERN}`)
  const from = parseName(msg.from, () => 'server')
  if (!from.ok) throw new RealtimeError(400, `from: ${from.reason} (at most ${NAME_MAX})`)
  const invalid = checkText(msg.text, maxLength)
  if (invalid !== undefined) throw new RealtimeError(400, invalid.type === 'error' ? invalid.message : 'invalid message')
  return { from: from.name, text: msg.text, cid: msg.cid, sender: from.name }
}

export function publishedOf (result: PublishResult): Published {
  return { seq: result.message.seq, id: result.message.id, epoch: result.epoch, duplicate: result.duplicate }
}
