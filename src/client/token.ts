// Tokens on the wire: a browser cannot set headers on a WebSocket upgrade, and a token in a URL is kept by logs and
// history until it expires. So before each handshake the token is traded (in a header) for a one-use ticket that goes
// in the query (`?ticket=`); `?token=` is the fallback for a socket given no ticket provider. An open chat or time
// socket adopts a new token with a refresh frame. Pure (no DOM, no timers): the decisions RealtimeSocket takes are
// here so they are unit-tested under Node.

/**
 * How an open socket adopts a new token: `frame` sends `{"type":"refresh","token"}` (chat, time); `reconnect`
 * reconnects at once with it (echo, which would echo the frame back instead of reading it).
 */
export type RefreshMode = 'frame' | 'reconnect'

/** The close the server sends at the token's `exp` when no refresh came. */
export const TOKEN_EXPIRED = { code: 4002, reason: 'token expired' } as const

/** `url` with `token=<encodeURIComponent(token)>` appended; unchanged for an undefined or empty token. */
export function withToken (url: string, token: string | undefined): string {
  return withParam(url, 'token', token)
}

/** `url` with `ticket=<ticket>` appended; unchanged for an undefined or empty ticket. */
export function withTicket (url: string, ticket: string | undefined): string {
  return withParam(url, 'ticket', ticket)
}

function withParam (url: string, key: string, value: string | undefined): string {
  if (value === undefined || value === '') return url
  const sep = url.endsWith('?') || url.endsWith('&') ? '' : url.includes('?') ? '&' : '?'
  return `${url}${sep}${key}=${encodeURIComponent(value)}`
}

/**
 * Trades a token for a connection ticket (`POST /tickets`), right before a handshake. Undefined: connect without
 * one (the server has auth off). Throws TicketRefused when the token itself is refused (do not retry), any other
 * error for a failure worth retrying after the backoff.
 */
export type TicketProvider = (token: string) => Promise<string | undefined>

/** The ticket endpoint refused the token: the status and the server's reason. */
export class TicketRefused extends Error {
  override name = 'TicketRefused'
  constructor (readonly status: number, message: string) {
    super(message)
  }
}

/**
 * What a ticket endpoint's answer means: a ticket (201), none needed (404: auth is off), a refusal of the token
 * (another 4xx, except 429 which passes), or a failure to retry (undefined status: throw a plain error).
 */
export function ticketAnswer (status: number): 'ticket' | 'none' | 'refused' | 'retry' {
  if (status === 201) return 'ticket'
  if (status === 404) return 'none'
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return 'refused'
  return 'retry'
}

/** The frame that asks an open chat or time socket to use `token` from now on (same `sub` only). */
export function refreshFrame (token: string): string {
  return JSON.stringify({ type: 'refresh', token })
}

/** What `setToken` does, given the socket as it is now. */
export type TokenAction =
  | 'refresh' //   send the refresh frame
  | 'reconnect' // drop the open socket and connect again with the token
  | 'connect' //   the server refused the last handshake: try again with the token
  | 'none' //      nothing now: the next handshake carries it (a handshake in flight is checked when it opens)

export function newTokenAction (s: { open: boolean, refused: boolean, stopped: boolean }, mode: RefreshMode): TokenAction {
  if (s.stopped) return 'none' // closed deliberately: connect() will use it
  if (s.refused) return 'connect'
  if (!s.open) return 'none'
  return mode === 'frame' ? 'refresh' : 'reconnect'
}

/** What a socket does after a close it did not ask for. */
export type CloseAction =
  | 'stop' //      closed deliberately
  | 'reconnect' // at once: the token expired but the app has set a newer one
  | 'probe' //     ask over HTTP why (a 4xx stops it as refused), else back off
  | 'backoff' //   reconnect after the backoff delay

export function closeAction (c: { deliberate: boolean, opened: boolean, code: number, reason: string, newerToken: boolean }): CloseAction {
  if (c.deliberate) return 'stop'
  // a browser only sees 1006 for a refused handshake: the status has to be asked for
  if (!c.opened) return 'probe'
  if (c.code === TOKEN_EXPIRED.code && c.reason === TOKEN_EXPIRED.reason) {
    // no newer token: the next handshake would be refused with 401, so learn that now instead of after a backoff
    return c.newerToken ? 'reconnect' : 'probe'
  }
  return 'backoff'
}

/** The token frames a socket acts on; anything else is the app's. */
export type TokenFrame =
  | { type: 'expiring', in: number }
  | { type: 'refreshed', exp: number }
  | { type: 'error', code: 'unauthorized', message: string }

/** Picks the token frames out of the stream; cheap for the rest (no parse unless a marker string is present). */
export function tokenFrame (data: unknown): TokenFrame | undefined {
  if (typeof data !== 'string' || data.charCodeAt(0) !== 123 /* { */) return undefined
  if (!data.includes('"expiring"') && !data.includes('"refreshed"') && !data.includes('"unauthorized"')) return undefined
  let f: Record<string, unknown>
  try { f = JSON.parse(data) as Record<string, unknown> } catch { return undefined }
  if (f === null || typeof f !== 'object') return undefined
  if (f.type === 'expiring' && typeof f.in === 'number') return { type: 'expiring', in: f.in }
  if (f.type === 'refreshed' && typeof f.exp === 'number') return { type: 'refreshed', exp: f.exp }
  if (f.type === 'error' && f.code === 'unauthorized') return { type: 'error', code: 'unauthorized', message: String(f.message ?? 'unauthorized') }
  return undefined
}
