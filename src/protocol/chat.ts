// Client -> server chat frames: parsing and validation, with no I/O.

import { CID_MAX, ROOM_PATTERN } from './codes.js'

export { CID_MAX, ROOM_PATTERN }
export const DEFAULT_ROOM = 'lobby'
export const NAME_MAX = 32

export type ErrorCode = 'invalid' | 'unknown_type' | 'too_long' | 'rate_limited' | 'unavailable'

export type ClientFrame =
  | { type: 'message', text: string, cid: string | undefined }
  | { type: 'ping' }
  | { type: 'refresh', token: string }
  | { type: 'error', code: ErrorCode, message: string, cid: string | undefined }

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
export function checkText (text: unknown, maxLength: number, cid?: string): ClientFrame | undefined {
  if (typeof text !== 'string') return { type: 'error', code: 'invalid', message: 'text must be a string', cid }
  if (text.trim() === '') return { type: 'error', code: 'invalid', message: 'text must not be empty', cid }
  if (codePointLength(text, maxLength) > maxLength) {
    return { type: 'error', code: 'too_long', message: `text is longer than ${maxLength} characters`, cid }
  }
  return undefined
}

/**
 * Parses one text frame from a chat client. A frame that is not a JSON object is the text
 * of a message (so `ws.send('hello')` from a console works); JSON objects must be protocol frames.
 */
export function parseClientFrame (raw: string, maxLength: number): ClientFrame {
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
    return checkText(raw, maxLength) ?? { type: 'message', text: raw, cid: undefined }
  }
  const frame = parsed as Record<string, unknown>
  const rawCid = Object.hasOwn(frame, 'cid') ? frame.cid : undefined
  let cid: string | undefined
  if (rawCid !== undefined) {
    if (typeof rawCid !== 'string' || rawCid.length < 1 || rawCid.length > CID_MAX) {
      return { type: 'error', code: 'invalid', message: `cid must be a string of 1-${CID_MAX} characters`, cid: undefined }
    }
    cid = rawCid
  }
  const type = Object.hasOwn(frame, 'type') ? frame.type : undefined
  switch (type) {
    case 'message': {
      const text = Object.hasOwn(frame, 'text') ? frame.text : undefined
      if (text === undefined) return { type: 'error', code: 'invalid', message: 'message needs "text"', cid }
      return checkText(text, maxLength, cid) ?? { type: 'message', text: text as string, cid }
    }
    case 'ping':
      return { type: 'ping' }
    case 'refresh': {
      // a fresh connection token (AUTH_MODE=jwt); verified by the caller
      const token = Object.hasOwn(frame, 'token') ? frame.token : undefined
      if (typeof token !== 'string' || token === '') return { type: 'error', code: 'invalid', message: 'refresh needs "token"', cid }
      return { type: 'refresh', token }
    }
    case undefined:
      return { type: 'error', code: 'invalid', message: 'frame needs "type"', cid }
    default: {
      // never String() an untrusted value: an object can carry a toString that is not a function (found by fuzzing)
      const shown = typeof type === 'string' ? JSON.stringify(type.slice(0, 32)) : `of JSON type ${Array.isArray(type) ? 'array' : typeof type}`
      return { type: 'error', code: 'unknown_type', message: `unknown type ${shown}`, cid }
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
