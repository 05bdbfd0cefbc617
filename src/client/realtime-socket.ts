// A WebSocket that survives the real world: reconnects with capped, jittered backoff, notices half-open
// connections with an app-level ping, gives up when the server refuses the handshake with a 4xx, and carries an
// auth token: traded for a one-use ticket before every handshake (or, without a ticket provider, in its URL),
// refreshed on the open socket before it expires.
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js'
import {
  closeAction, newTokenAction, refreshFrame, ticketAnswer, TicketRefused, tokenFrame, withTicket, withToken,
  type RefreshMode, type TicketProvider
} from './token.js'

export type StateName = 'CONNECTING' | 'OPEN' | 'CLOSING' | 'CLOSED'

export interface HeartbeatOptions {
  /** send {"type":"ping"} this often, ms */
  intervalMs: number
  /** no pong within this: the connection is dead, reconnect, ms */
  timeoutMs: number
}

export interface RealtimeSocketOptions {
  backoff?: BackoffOptions
  heartbeat?: HeartbeatOptions
  /** the DOM's BinaryType spelled out, so the shipped types also resolve in a Node host without the DOM lib */
  binaryType?: 'blob' | 'arraybuffer'
  /** statuses that mean "do not retry" when the handshake is refused */
  refuseStatuses?: number[]
  /** auth token (a JWT): traded for a ticket before every handshake (`ticket`), else sent as `?token=`; see `setToken` */
  token?: string
  /** gets a one-use ticket for the token right before each handshake (`ticketsFrom('/tickets')`): no token in URLs */
  ticket?: TicketProvider
  /** how an open socket adopts a new token: `frame` (default; chat, time) or `reconnect` (echo) */
  refresh?: RefreshMode
  /** asked for the token right before every handshake (after a `token expired` close, a fresh one); overrides `token` */
  getToken?: () => Promise<string | undefined> | string | undefined
  /** the WebSocket constructor: default `globalThis.WebSocket` (browsers, Node 22+); pass `ws`'s for older Node */
  WebSocket?: WebSocketLike
  /** closes after which reconnecting cannot help (e.g. kicked): the socket stops and reports `stopped` */
  stopOn?: (code: number) => boolean
}

/** What the client needs of a WebSocket class: the browser's, Node 22's global one and the `ws` package all fit. */
export interface WebSocketLike {
  new (url: string): WebSocket
  readonly OPEN: number
}

/** The constructor to use: the one given, else the global one, else a clear error (Node before 22 has none). */
export function webSocketClass (given?: WebSocketLike): WebSocketLike {
  const ctor = given ?? (globalThis as { WebSocket?: WebSocketLike }).WebSocket
  if (ctor === undefined) {
    throw new TypeError('no WebSocket constructor: this runtime has no global WebSocket (Node < 22); pass one, e.g. ' +
      "`import WebSocket from 'ws'` and the option `WebSocket`")
  }
  return ctor
}

export interface StateDetail {
  state: StateName
  /** epoch ms of the next reconnect attempt while waiting, else undefined */
  retryAt: number | undefined
  /** set when the server refused the handshake: reconnecting stopped */
  refused: { status: number, message: string } | undefined
  /** set when a close code said not to reconnect (`stopOn`): reconnecting stopped */
  stopped?: { code: number, reason: string } | undefined
}

const NAMES: StateName[] = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']
export const CHAT_HEARTBEAT: HeartbeatOptions = { intervalMs: 25_000, timeoutMs: 10_000 }

/**
 * Events: `open`, `message` (detail: the data), `close` (detail: {code, reason}), `state` (detail: StateDetail).
 * With a token: `expiring` (detail: ms until the server closes the socket unless `setToken` gives it a new token),
 * `refreshed` (detail: the new `exp`, unix seconds), `refreshfailed` (detail: the server's reason; the old expiry
 * stands). Token frames are also dispatched as `message`.
 */
export class RealtimeSocket extends EventTarget {
  ws: WebSocket | undefined
  attempt = 0
  retryAt: number | undefined
  refused: StateDetail['refused']
  stopped: StateDetail['stopped']
  /** the token the next handshake (and a refresh) uses */
  token: string | undefined
  #liveToken: string | undefined // the token the server holds for the current socket
  #pendingRefresh: string | undefined
  #deliberate = false
  #opened = false
  #fetchingTicket = false
  #attemptId = 0 // a ticket that arrives after a newer connect() or a close() is dropped
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #pingTimer: ReturnType<typeof setInterval> | undefined
  #pongTimer: ReturnType<typeof setTimeout> | undefined
  readonly #opts: RealtimeSocketOptions
  readonly #WS: WebSocketLike

  /** `url` is called for every attempt, so a resume position can go in the query. */
  constructor (readonly url: () => string, opts: RealtimeSocketOptions = {}) {
    super()
    this.#opts = opts
    this.#WS = webSocketClass(opts.WebSocket)
    this.token = opts.token
  }

  get state (): StateName {
    if (this.#fetchingTicket) return 'CONNECTING'
    return this.ws === undefined ? 'CLOSED' : NAMES[this.ws.readyState] ?? 'CLOSED'
  }

  connect (): void {
    this.#deliberate = false
    this.refused = undefined
    this.stopped = undefined
    clearTimeout(this.#retryTimer)
    this.retryAt = undefined
    const attempt = ++this.#attemptId
    const getToken = this.#opts.getToken
    if (getToken === undefined) { this.#handshake(attempt); return }
    this.#fetchingTicket = true
    this.#emitState()
    Promise.resolve().then(getToken).then((token) => {
      if (attempt !== this.#attemptId || this.#deliberate) return
      this.token = token
      this.#handshake(attempt)
    }, () => {
      if (attempt !== this.#attemptId || this.#deliberate) return
      this.#fetchingTicket = false
      this.#schedule() // the app's token source failed: try again after the backoff
    })
  }

  #handshake (attempt: number): void {
    const token = this.token
    this.#liveToken = token
    this.#pendingRefresh = undefined
    if (!this.#tradesToken(token)) {
      this.#fetchingTicket = false
      this.#open(this.#plainUrl(token))
      return
    }
    this.#fetchingTicket = true
    this.#emitState()
    this.#ticketUrl(token).then((url) => {
      if (attempt !== this.#attemptId || this.#deliberate) return
      this.#fetchingTicket = false
      this.#open(url)
    }, (err: unknown) => {
      if (attempt !== this.#attemptId || this.#deliberate) return
      this.#fetchingTicket = false
      if (err instanceof TicketRefused) {
        this.refused = { status: err.status, message: err.message }
        this.#emitState()
      } else {
        this.#schedule()
      }
    })
  }

  /** Whether a handshake needs a ticket: there is a provider and a token to trade. */
  #tradesToken (token: string | undefined): token is string {
    return this.#opts.ticket !== undefined && token !== undefined && token !== ''
  }

  /** The handshake URL without a ticket: the token in it only when no ticket provider was given (the fallback). */
  #plainUrl (token: string | undefined): string {
    return withToken(this.url(), this.#opts.ticket === undefined ? token : undefined)
  }

  /** The handshake URL with a fresh ticket for `token` (none when the provider says none is needed). */
  async #ticketUrl (token: string): Promise<string> {
    const ticket = await this.#opts.ticket!(token)
    return withTicket(this.url(), ticket)
  }

  #open (url: string): void {
    const ws = new this.#WS(url)
    if (this.#opts.binaryType !== undefined) ws.binaryType = this.#opts.binaryType
    this.ws = ws
    this.#opened = false
    ws.onopen = () => {
      this.#opened = true
      this.attempt = 0
      this.#startHeartbeat()
      this.#emitState()
      this.dispatchEvent(new Event('open'))
      // setToken while the handshake was in flight: that handshake carried the old token
      if (this.ws === ws && this.token !== this.#liveToken) this.#applyToken()
    }
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#opts.heartbeat !== undefined) clearTimeout(this.#pongTimer)
      if (this.token !== undefined && this.#opts.refresh !== 'reconnect') this.#onTokenFrame(ev.data)
      this.dispatchEvent(new CustomEvent('message', { detail: ev.data }))
    }
    ws.onclose = (ev: CloseEvent) => { this.#closed(ws, ev.code, ev.reason) }
    // a close always follows an error; the `ws` package would throw an error nobody listens for
    ws.onerror = () => {}
    this.#emitState()
  }

  /** Sends when open; returns false otherwise (the caller decides whether to queue). */
  send (data: string | ArrayBufferLike | Blob | ArrayBufferView): boolean {
    if (this.ws?.readyState !== this.#WS.OPEN) return false
    this.ws.send(data)
    return true
  }

  /**
   * Uses `token` for every later handshake (and the refusal probe). An open socket adopts it now: a refresh frame
   * (`refresh: 'frame'`) or a reconnect (`refresh: 'reconnect'`); a socket the server refused tries again with it.
   */
  setToken (token: string | undefined): void {
    this.token = token
    this.#applyToken()
  }

  #applyToken (): void {
    const action = newTokenAction({
      open: this.ws?.readyState === this.#WS.OPEN,
      refused: this.refused !== undefined,
      stopped: this.#deliberate
    }, this.#opts.refresh ?? 'frame')
    if (action === 'connect') this.connect()
    else if (action === 'reconnect') this.#reconnectNow('token changed')
    else if (action === 'refresh' && this.token !== undefined && this.token !== '' && this.token !== this.#liveToken) {
      this.#pendingRefresh = this.token
      this.send(refreshFrame(this.token))
    }
  }

  #onTokenFrame (data: unknown): void {
    const f = tokenFrame(data)
    if (f === undefined) return
    if (f.type === 'expiring') {
      this.dispatchEvent(new CustomEvent('expiring', { detail: f.in }))
    } else if (f.type === 'refreshed') {
      if (this.#pendingRefresh !== undefined) this.#liveToken = this.#pendingRefresh
      this.#pendingRefresh = undefined
      this.dispatchEvent(new CustomEvent('refreshed', { detail: f.exp }))
    } else if (this.#pendingRefresh !== undefined) { // an unauthorized error answers our refresh
      this.#pendingRefresh = undefined
      this.dispatchEvent(new CustomEvent('refreshfailed', { detail: f.message }))
    }
  }

  /** A deliberate close: no reconnect. */
  close (code = 1000, reason = 'bye'): void {
    this.#deliberate = true
    this.#fetchingTicket = false
    clearTimeout(this.#retryTimer)
    this.retryAt = undefined
    this.#stopHeartbeat()
    if (this.ws !== undefined && this.ws.readyState <= this.#WS.OPEN) this.ws.close(code, reason)
    this.#emitState()
  }

  #closed (ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return // an abandoned socket (heartbeat timeout) reporting late
    this.#stopHeartbeat()
    this.dispatchEvent(new CustomEvent('close', { detail: { code, reason } }))
    const action = closeAction({
      deliberate: this.#deliberate,
      opened: this.#opened,
      code,
      reason,
      // a token provider is asked again before the next handshake: that is the newer token
      newerToken: this.token !== this.#liveToken || this.#opts.getToken !== undefined
    })
    if (action === 'stop') { this.#emitState(); return }
    if (this.#opened && this.#opts.stopOn?.(code) === true) {
      this.stopped = { code, reason }
      this.#emitState()
      return
    }
    if (action === 'reconnect') { this.connect(); return }
    if (action === 'probe') {
      const token = this.token
      this.#checkRefusal().then((refusal) => {
        if (this.#deliberate || this.ws !== ws) return // closed or reconnected meanwhile
        if (refusal === undefined) {
          this.#schedule()
        } else if (this.token !== token) {
          this.connect() // the refused token was replaced while we asked: try the new one
        } else {
          this.refused = refusal
          this.#emitState()
        }
      }, () => { if (!this.#deliberate && this.ws === ws) this.#schedule() })
      return
    }
    this.#schedule()
  }

  /**
   * A browser hides the handshake status (close 1006); ask the same URL over HTTP to learn it. With tickets, with a
   * fresh one (the handshake used its own): a refused token is then told by the ticket endpoint itself.
   */
  async #checkRefusal (): Promise<StateDetail['refused']> {
    const token = this.token
    let url: string
    if (!this.#tradesToken(token)) {
      url = this.#plainUrl(token)
    } else {
      try {
        url = await this.#ticketUrl(token)
      } catch (err) {
        if (err instanceof TicketRefused) return { status: err.status, message: err.message }
        throw err
      }
    }
    const res = await fetch(url.replace(/^ws/, 'http'), { cache: 'no-store' })
    const refuse = this.#opts.refuseStatuses ?? [400, 401, 403, 429]
    if (!refuse.includes(res.status)) return undefined
    let message = res.statusText
    try { message = ((await res.json()) as { message?: string }).message ?? message } catch {}
    return { status: res.status, message }
  }

  /** Replaces the open socket at once (no backoff): it is healthy, only its token changed. */
  #reconnectNow (reason: string): void {
    const ws = this.ws
    if (ws !== undefined) {
      this.ws = undefined
      this.#stopHeartbeat()
      ws.onopen = ws.onmessage = ws.onclose = null
      try { ws.close(1000, reason) } catch {}
      this.dispatchEvent(new CustomEvent('close', { detail: { code: 1000, reason } }))
    }
    this.connect()
  }

  #schedule (): void {
    const delay = backoffDelay(this.attempt++, this.#opts.backoff ?? DEFAULT_BACKOFF)
    this.retryAt = Date.now() + delay
    this.#retryTimer = setTimeout(() => { if (!this.#deliberate) this.connect() }, delay)
    this.#emitState()
  }

  #startHeartbeat (): void {
    const hb = this.#opts.heartbeat
    if (hb === undefined) return
    this.#pingTimer = setInterval(() => {
      if (!this.send('{"type":"ping"}')) return
      clearTimeout(this.#pongTimer)
      this.#pongTimer = setTimeout(() => this.#dead(), hb.timeoutMs)
    }, hb.intervalMs)
  }

  #stopHeartbeat (): void {
    clearInterval(this.#pingTimer)
    clearTimeout(this.#pongTimer)
  }

  /** No pong in time: a half-open connection. Abandon it (its close may never come) and reconnect. */
  #dead (): void {
    const ws = this.ws
    if (ws === undefined) return
    this.ws = undefined
    this.#stopHeartbeat()
    ws.onopen = ws.onmessage = ws.onclose = null
    try { ws.close(4000, 'heartbeat timeout') } catch {}
    this.dispatchEvent(new CustomEvent('close', { detail: { code: 4000, reason: 'heartbeat timeout' } }))
    this.#schedule()
  }

  #emitState (): void {
    const detail: StateDetail = { state: this.state, retryAt: this.retryAt, refused: this.refused, stopped: this.stopped }
    this.dispatchEvent(new CustomEvent('state', { detail }))
  }
}

/**
 * A ticket provider for `RealtimeSocket`'s `ticket` option: `POST endpoint` with `Authorization: Bearer <token>`
 * (same origin by default; a full URL for another host, which must allow the page's origin).
 */
export function ticketsFrom (endpoint = '/tickets'): TicketProvider {
  return async (token) => {
    const res = await fetch(endpoint, { method: 'POST', headers: { authorization: `Bearer ${token}` }, cache: 'no-store' })
    const answer = ticketAnswer(res.status)
    if (answer === 'none') return undefined
    let body: { ticket?: unknown, message?: unknown } = {}
    try { body = (await res.json()) as typeof body } catch {}
    if (answer === 'ticket' && typeof body.ticket === 'string') return body.ticket
    const message = typeof body.message === 'string' ? body.message : res.statusText
    if (answer === 'refused') throw new TicketRefused(res.status, message)
    throw new Error(`ticket endpoint answered ${res.status}: ${message}`)
  }
}
