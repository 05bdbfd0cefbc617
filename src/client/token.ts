// Tokens on the wire: a browser cannot set headers on a WebSocket upgrade, so the token goes in the query
// (`?token=`); an open chat or time socket adopts a new one with a refresh frame. Pure (no DOM, no timers): the
// decisions RealtimeSocket takes are here so they are unit-tested under Node.

/**
 * How an open socket adopts a new token: `frame` sends `{"type":"refresh","token"}` (chat, time); `reconnect`
 * reconnects at once with it (echo, which would echo the frame back instead of reading it).
 */
export type RefreshMode = 'frame' | 'reconnect'

/** The close the server sends at the token's `exp` when no refresh came. */
export const TOKEN_EXPIRED = { code: 1008, reason: 'token expired' } as const

/** `url` with `token=<encodeURIComponent(token)>` appended; unchanged for an undefined or empty token. */
export function withToken (url: string, token: string | undefined): string {
  if (token === undefined || token === '') return url
  const sep = url.endsWith('?') || url.endsWith('&') ? '' : url.includes('?') ? '&' : '?'
  return `${url}${sep}token=${encodeURIComponent(token)}`
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
