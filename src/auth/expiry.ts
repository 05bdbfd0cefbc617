// The end of an authenticated socket: a warning shortly before its token's exp, and the close at exp.

/** setTimeout fires at once for delays over 2^31-1 ms (24.8 days): longer waits go in steps */
const MAX_DELAY = 2 ** 31 - 1

export interface ExpiryHandlers {
  /** `inMs` before expiry (at once when less is left): time to send a fresh token */
  warn (inMs: number): void
  expire (): void
}

/**
 * One timer per authenticated socket, moved by a refresh. Unref'd: a socket's expiry never keeps the
 * process alive. `stop` when the socket closes.
 */
export class ExpiryTimer {
  #timer: NodeJS.Timeout | undefined
  #expiresAt = 0
  #warned = false

  constructor (
    expiresAt: number,
    readonly warnBeforeMs: number,
    readonly handlers: ExpiryHandlers,
    readonly now: () => number = Date.now
  ) {
    this.set(expiresAt)
  }

  /** (Re)schedules for a new expiry, e.g. after a refresh. */
  set (expiresAt: number): void {
    this.#expiresAt = expiresAt
    this.#warned = false
    this.#arm()
  }

  stop (): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
  }

  #arm (): void {
    clearTimeout(this.#timer)
    const left = this.#expiresAt - this.now()
    if (left <= 0) {
      this.#timer = undefined
      this.handlers.expire()
      return
    }
    if (!this.#warned && left <= this.warnBeforeMs) {
      this.#warned = true
      this.handlers.warn(left)
    }
    const next = this.#warned ? left : left - this.warnBeforeMs
    this.#timer = setTimeout(() => this.#arm(), Math.min(next, MAX_DELAY))
    this.#timer.unref()
  }
}
