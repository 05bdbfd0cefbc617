// Client -> server frames: parsing and validation, with no I/O.

import { CID_MAX, EPOCH_MAX, EVENT_PATTERN, REF_MAX, ROOM_PATTERN, USER_ID_MAX, type ErrorCode } from './codes.js'
import type { Ref } from './frames.js'

export { CID_MAX, ROOM_PATTERN }
export const DEFAULT_ROOM = 'lobby'
export const NAME_MAX = 32

export type { ErrorCode }

/** A parsed client frame: what the hub acts on. `ref` is echoed in the reply; `dataJson` is `data` serialised. */
export type ClientFrame =
  | { type: 'message', ref: Ref | undefined, room: string | undefined, text: string, cid: string | undefined }
  | { type: 'publish', ref: Ref | undefined, room: string, event: string | undefined, text: string | undefined, data: unknown, dataJson: string | undefined, cid: string | undefined }
  | { type: 'subscribe', ref: Ref | undefined, room: string, since: number | undefined, epoch: string | undefined }
  | { type: 'unsubscribe', ref: Ref | undefined, room: string }
  | { type: 'signal', ref: Ref | undefined, room: string, event: string, dataJson: string | undefined }
  | { type: 'ping', ref: Ref | undefined }
  | { type: 'refresh', ref: Ref | undefined, token: string }
  | { type: 'error', ref: Ref | undefined, code: ErrorCode, message: string, cid: string | undefined }

/** What the parser checks a frame against (CHAT_MAX_LENGTH, MAX_DATA_BYTES). */
export interface FrameLimits {
  maxLength: number
  maxDataBytes: number
}

const ROOM_RE = new RegExp(ROOM_PATTERN)
const EVENT_RE = new RegExp(EVENT_PATTERN)

// C0 controls and DEL/C1; names are single-line labels shown to everyone
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

/** Counts user-perceived length in code points, without allocating for the common short case. */
export function codePointLength (text: string, limit: number): number {
  if (text.length <= limit) return text.length
  let n = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

/** Validates a text body against the length limit; returns an error frame or undefined. */
export function checkText (text: unknown, maxLength: number, cid?: string, ref?: Ref): ClientFrame | undefined {
  if (typeof text !== 'string') return fail('invalid', 'text must be a string', ref, cid)
  if (text.trim() === '') return fail('invalid', 'text must not be empty', ref, cid)
  if (codePointLength(text, maxLength) > maxLength) return fail('too_long', `text is longer than ${maxLength} characters`, ref, cid)
  return undefined
}

/** `data` serialised, or an error frame when it is larger than `maxBytes` (UTF-8). */
export function serialiseData (data: unknown, maxBytes: number, cid?: string, ref?: Ref): string | ClientFrame {
  const json = JSON.stringify(data)
  // a UTF-16 unit is at most 3 bytes of UTF-8: short strings need no byte count
  if (json.length * 3 > maxBytes && Buffer.byteLength(json) > maxBytes) return fail('too_large', `data is larger than ${maxBytes} bytes`, ref, cid)
  return json
}

/** A room name from a client: a room (ROOM_PATTERN) or a personal stream `@<userId>`; undefined when neither. */
export function checkRoom (room: unknown): string | undefined {
  if (typeof room !== 'string') return undefined
  if (room.charCodeAt(0) === 0x40 /* @ */) {
    return room.length >= 2 && room.length <= USER_ID_MAX + 1 && !CONTROL.test(room) ? room : undefined
  }
  return ROOM_RE.test(room) ? room : undefined
}

function fail (code: ErrorCode, message: string, ref: Ref | undefined, cid: string | undefined): ClientFrame {
  return { type: 'error', ref, code, message, cid }
}

function own (frame: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(frame, key) ? frame[key] : undefined
}

/**
 * Parses one text frame from a client. A frame that is not a JSON object is the text of a message to the
 * socket's room (so `ws.send('hello')` from a console works on /ws/chat); JSON objects must be protocol frames.
 * Hand-written checks, in the order of the frame schemas (frames.ts): this is the per-message path.
 */
export function parseClientFrame (raw: string, maxLength: number, maxDataBytes = Infinity): ClientFrame {
  let parsed: unknown
  const first = raw.charCodeAt(0)
  // only a frame that starts like an object can be a protocol frame
  if (first === 0x7b /* { */) {
    try {
      parsed = JSON.parse(raw)
    } catch {
      parsed = undefined
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return checkText(raw, maxLength) ?? { type: 'message', ref: undefined, room: undefined, text: raw, cid: undefined }
  }
  const frame = parsed as Record<string, unknown>
  const rawRef = own(frame, 'ref')
  let ref: Ref | undefined
  if (rawRef !== undefined) {
    if (typeof rawRef !== 'number' && (typeof rawRef !== 'string' || rawRef.length > REF_MAX)) {
      return fail('invalid', `ref must be a number or a string of at most ${REF_MAX} characters`, undefined, undefined)
    }
    ref = rawRef
  }
  const rawCid = own(frame, 'cid')
  let cid: string | undefined
  if (rawCid !== undefined) {
    if (typeof rawCid !== 'string' || rawCid.length < 1 || rawCid.length > CID_MAX) {
      return fail('invalid', `cid must be a string of 1-${CID_MAX} characters`, ref, undefined)
    }
    cid = rawCid
  }
  const type = own(frame, 'type')
  switch (type) {
    case 'message': {
      const text = own(frame, 'text')
      if (text === undefined) return fail('invalid', 'message needs "text"', ref, cid)
      const rawRoom = own(frame, 'room')
      const room = rawRoom === undefined ? undefined : checkRoom(rawRoom)
      if (rawRoom !== undefined && room === undefined) return fail('invalid', 'room is not a valid room name', ref, cid)
      return checkText(text, maxLength, cid, ref) ?? { type: 'message', ref, room, text: text as string, cid }
    }
    case 'publish': {
      const room = checkRoom(own(frame, 'room'))
      if (room === undefined) return fail('invalid', 'publish needs a valid "room"', ref, cid)
      const event = own(frame, 'event')
      if (event !== undefined && (typeof event !== 'string' || !EVENT_RE.test(event))) return fail('invalid', `event must match ${EVENT_PATTERN}`, ref, cid)
      const hasData = Object.hasOwn(frame, 'data')
      const text = own(frame, 'text')
      if (hasData === (text !== undefined)) return fail('invalid', 'publish needs exactly one of "data" and "text"', ref, cid)
      if (!hasData) {
        return checkText(text, maxLength, cid, ref) ?? { type: 'publish', ref, room, event, text: text as string, data: undefined, dataJson: undefined, cid }
      }
      const json = serialiseData(frame.data, maxDataBytes, cid, ref)
      if (typeof json !== 'string') return json
      return { type: 'publish', ref, room, event, text: undefined, data: frame.data, dataJson: json, cid }
    }
    case 'subscribe': {
      const room = checkRoom(own(frame, 'room'))
      if (room === undefined) return fail('invalid', 'subscribe needs a valid "room"', ref, cid)
      const since = own(frame, 'since')
      if (since !== undefined && (!Number.isSafeInteger(since) || (since as number) < 0)) return fail('invalid', 'since must be an integer >= 0', ref, cid)
      const epoch = own(frame, 'epoch')
      if (epoch !== undefined && (typeof epoch !== 'string' || epoch.length < 1 || epoch.length > EPOCH_MAX)) return fail('invalid', `epoch must be a string of 1-${EPOCH_MAX} characters`, ref, cid)
      return { type: 'subscribe', ref, room, since: since as number | undefined, epoch: epoch as string | undefined }
    }
    case 'unsubscribe': {
      const room = checkRoom(own(frame, 'room'))
      if (room === undefined) return fail('invalid', 'unsubscribe needs a valid "room"', ref, cid)
      return { type: 'unsubscribe', ref, room }
    }
    case 'signal': {
      const room = checkRoom(own(frame, 'room'))
      if (room === undefined) return fail('invalid', 'signal needs a valid "room"', ref, cid)
      const event = own(frame, 'event')
      if (typeof event !== 'string' || !EVENT_RE.test(event)) return fail('invalid', `signal needs an "event" matching ${EVENT_PATTERN}`, ref, cid)
      if (!Object.hasOwn(frame, 'data')) return { type: 'signal', ref, room, event, dataJson: undefined }
      const json = serialiseData(frame.data, maxDataBytes, cid, ref)
      if (typeof json !== 'string') return json
      return { type: 'signal', ref, room, event, dataJson: json }
    }
    case 'ping':
      return { type: 'ping', ref }
    case 'refresh': {
      // a fresh connection token (AUTH_MODE=jwt); verified by the caller
      const token = own(frame, 'token')
      if (typeof token !== 'string' || token === '') return fail('invalid', 'refresh needs "token"', ref, cid)
      return { type: 'refresh', ref, token }
    }
    case undefined:
      return fail('invalid', 'frame needs "type"', ref, cid)
    default: {
      // never String() an untrusted value: an object can carry a toString that is not a function (found by fuzzing)
      const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 32)) : `of JSON type ${Array.isArray(type) ? 'array' : typeof type}`
      return fail('unknown_type', `unknown type ${shown}`, ref, cid)
    }
  }
}

/** Display name from `?name=`: trimmed, 1-32 characters, no control characters. */
export function parseName (name: string | undefined, fallback: () => string): { ok: true, name: string } | { ok: false, reason: string } {
  if (name === undefined) return { ok: true, name: fallback() }
  if (CONTROL.test(name)) return { ok: false, reason: 'name must not contain control characters' }
  const trimmed = name.trim()
  const len = codePointLength(trimmed, NAME_MAX)
  if (len < 1 || len > NAME_MAX) return { ok: false, reason: `name must be 1-${NAME_MAX} characters` }
  return { ok: true, name: trimmed }
}
