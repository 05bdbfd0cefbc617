// A WebSocket that survives the real world: reconnects with capped, jittered backoff, notices half-open
// connections with an app-level ping, and gives up when the server refuses the handshake with a 4xx.
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js'

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
  binaryType?: BinaryType
  /** statuses that mean "do not retry" when the handshake is refused */
  refuseStatuses?: number[]
}

export interface StateDetail {
  state: StateName
  /** epoch ms of the next reconnect attempt while waiting, else undefined */
  retryAt: number | undefined
  /** set when the server refused the handshake: reconnecting stopped */
  refused: { status: number, message: string } | undefined
}

const NAMES: StateName[] = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED']
export const CHAT_HEARTBEAT: HeartbeatOptions = { intervalMs: 25_000, timeoutMs: 10_000 }

/**
 * Events: `open`, `message` (detail: the data), `close` (detail: {code, reason}), `state` (detail: StateDetail).
 */
export class RealtimeSocket extends EventTarget {
  ws: WebSocket | undefined
  attempt = 0
  retryAt: number | undefined
  refused: StateDetail['refused']
  #deliberate = false
  #opened = false
  #retryTimer: ReturnType<typeof setTimeout> | undefined
  #pingTimer: ReturnType<typeof setInterval> | undefined
  #pongTimer: ReturnType<typeof setTimeout> | undefined
  readonly #opts: RealtimeSocketOptions

  /** `url` is called for every attempt, so a resume position can go in the query. */
  constructor (readonly url: () => string, opts: RealtimeSocketOptions = {}) {
    super()
    this.#opts = opts
  }

  get state (): StateName {
    return this.ws === undefined ? 'CLOSED' : NAMES[this.ws.readyState] ?? 'CLOSED'
  }

  connect (): void {
    this.#deliberate = false
    this.refused = undefined
    clearTimeout(this.#retryTimer)
    this.retryAt = undefined
    const ws = new WebSocket(this.url())
    ws.binaryType = this.#opts.binaryType ?? 'blob'
    this.ws = ws
    this.#opened = false
    ws.onopen = () => {
      this.#opened = true
      this.attempt = 0
      this.#startHeartbeat()
      this.#emitState()
      this.dispatchEvent(new Event('open'))
    }
    ws.onmessage = (ev: MessageEvent) => {
      if (this.#opts.heartbeat !== undefined) clearTimeout(this.#pongTimer)
      this.dispatchEvent(new CustomEvent('message', { detail: ev.data }))
    }
    ws.onclose = (ev: CloseEvent) => { this.#closed(ws, ev.code, ev.reason) }
    this.#emitState()
  }

  /** Sends when open; returns false otherwise (the caller decides whether to queue). */
  send (data: string | ArrayBufferLike | Blob | ArrayBufferView): boolean {
    if (this.ws?.readyState !== WebSocket.OPEN) return false
    this.ws.send(data)
    return true
  }

  /** A deliberate close: no reconnect. */
  close (code = 1000, reason = 'bye'): void {
    this.#deliberate = true
    clearTimeout(this.#retryTimer)
    this.retryAt = undefined
    this.#stopHeartbeat()
    if (this.ws !== undefined && this.ws.readyState <= WebSocket.OPEN) this.ws.close(code, reason)
    this.#emitState()
  }

  #closed (ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return // an abandoned socket (heartbeat timeout) reporting late
    this.#stopHeartbeat()
    this.dispatchEvent(new CustomEvent('close', { detail: { code, reason } }))
    if (this.#deliberate) { this.#emitState(); return }
    if (!this.#opened) {
      this.#checkRefusal().then((refusal) => {
        if (refusal !== undefined) {
          this.refused = refusal
          this.#emitState()
        } else {
          this.#schedule()
        }
      }, () => this.#schedule())
      return
    }
    this.#schedule()
  }

  /** A browser hides the handshake status (close 1006); ask the same URL over HTTP to learn it. */
  async #checkRefusal (): Promise<StateDetail['refused']> {
    const http = this.url().replace(/^ws/, 'http')
    const res = await fetch(http, { cache: 'no-store' })
    const refuse = this.#opts.refuseStatuses ?? [400, 401, 403, 429]
    if (!refuse.includes(res.status)) return undefined
    let message = res.statusText
    try { message = ((await res.json()) as { message?: string }).message ?? message } catch {}
    return { status: res.status, message }
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
    const detail: StateDetail = { state: this.state, retryAt: this.retryAt, refused: this.refused }
    this.dispatchEvent(new CustomEvent('state', { detail }))
  }
}
