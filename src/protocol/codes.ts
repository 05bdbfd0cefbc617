// The runtime half of the wire contract: close codes, error codes and the limits a client can check before it
// sends. No imports, so the browser client can import (or copy) this file as it is; the frame schemas live in
// frames.ts, which the client imports only as types.

/**
 * Close codes. The server's own reasons use 4000-4999: 4000-4499 mean "reconnect, with backoff"
 * (after 4002, with a fresh token), 4500-4999 mean "do not reconnect". Protocol errors keep their
 * RFC 6455 codes (1002, 1003, 1007, 1009), shutdown keeps 1001, an unexpected server error 1011.
 */
export const CLOSE = {
  NORMAL: 1000,
  /** the server is shutting down: reconnect (another instance, or this one when it is back) */
  GOING_AWAY: 1001,
  /** a frame broke RFC 6455 (ws closes with it by itself) */
  PROTOCOL_ERROR: 1002,
  /** a binary frame on a route that takes text only */
  UNSUPPORTED_DATA: 1003,
  /** a text frame that is not UTF-8 (ws) */
  INVALID_PAYLOAD: 1007,
  /** a frame larger than MAX_PAYLOAD_BYTES, or fragmented too finely (ws) */
  TOO_BIG: 1009,
  /** an unexpected server error */
  INTERNAL_ERROR: 1011,
  /** the socket kept sending over its message budget */
  RATE_LIMITED: 4000,
  /** the socket did not read what it was sent (SEND_BUFFER_LIMIT_BYTES) */
  SLOW_CONSUMER: 4001,
  /** the token expired and no refresh came: reconnect with a fresh token */
  TOKEN_EXPIRED: 4002,
  /** the server cannot serve this socket now (its hub store is unavailable, or it sheds load) */
  OVERLOADED: 4003,
  /** closed by an administrator (DELETE /connections/:id): do not reconnect */
  KICKED: 4500,
  /** not allowed (a token that no longer allows what the socket does): do not reconnect */
  FORBIDDEN: 4501
} as const

export type CloseCode = typeof CLOSE[keyof typeof CLOSE]

/** The reason string the server sends with each of its own codes. */
export const CLOSE_REASON: Readonly<Record<number, string>> = {
  [CLOSE.GOING_AWAY]: 'server shutting down',
  [CLOSE.UNSUPPORTED_DATA]: 'text frames only',
  [CLOSE.INTERNAL_ERROR]: 'internal error',
  [CLOSE.RATE_LIMITED]: 'rate limit exceeded',
  [CLOSE.SLOW_CONSUMER]: 'slow consumer',
  [CLOSE.TOKEN_EXPIRED]: 'token expired',
  [CLOSE.OVERLOADED]: 'hub unavailable',
  [CLOSE.KICKED]: 'closed by an administrator',
  [CLOSE.FORBIDDEN]: 'forbidden'
}

/**
 * What a client should do after a close it did not ask for: `reconnect` (with backoff; 4002 with a fresh
 * token first), or `stop`. 1000 is a deliberate close; 4500-4999 say "do not come back"; a protocol error
 * (1002, 1003, 1007, 1009) would recur on a reconnect with the same client, so it stops too.
 */
export function closeAdvice (code: number): 'reconnect' | 'stop' {
  if (code >= 4500 && code <= 4999) return 'stop'
  if (code >= 4000 && code <= 4499) return 'reconnect'
  if (code === 1000 || code === 1002 || code === 1003 || code === 1007 || code === 1009) return 'stop'
  return 'reconnect'
}

/** The `code` of an error frame. */
export const ERROR_CODES = [
  'invalid',
  'unknown_type',
  'too_long',
  'too_large',
  'rate_limited',
  'unavailable',
  'forbidden',
  'not_subscribed',
  'too_many_subscriptions',
  'unauthorized'
] as const

export type ErrorCode = typeof ERROR_CODES[number]

/** a room name (a personal stream is `@` and a user id instead) */
export const ROOM_PATTERN = '^[A-Za-z0-9_-]{1,64}$'
/** the prefix of a user's personal stream: `@<userId>` */
export const USER_STREAM_PREFIX = '@'
/** an `event` name on a message or signal */
export const EVENT_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$'
/** a string `ref` is at most this long (a number is any JSON number) */
export const REF_MAX = 64
/** a `cid` is 1-64 characters */
export const CID_MAX = 64
/** an `epoch` is 1-64 characters */
export const EPOCH_MAX = 64
/** a JWT `sub` is at most this long, so a personal stream name is at most 1 + this */
export const USER_ID_MAX = 256
