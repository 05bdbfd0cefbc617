/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  #tokens: number
  #last: number

  constructor (readonly rate: number, readonly burst: number, now: number) {
    this.#tokens = burst
    this.#last = now
  }

  take (now: number): boolean {
    this.#refill(now)
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** Milliseconds until a token is available (0: one is now), without taking it. */
  wait (now: number): number {
    this.#refill(now)
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.rate)
  }

  /** Back at the burst: the bucket is the same as a new one, so it need not be kept. */
  full (now: number): boolean {
    this.#refill(now)
    return this.#tokens >= this.burst
  }

  #refill (now: number): void {
    const elapsed = now - this.#last
    if (elapsed > 0) {
      this.#tokens = Math.min(this.burst, this.#tokens + (elapsed * this.rate) / 1000)
      this.#last = now
    }
  }
}

export const FLOOD_WINDOW_MS = 3000

/**
 * Tells a burst from a flood. Each refused message adds a strike; strikes leak away at half
 * the allowed rate. A connection is flooding when strikes have not drained for FLOOD_WINDOW_MS
 * and at least a second's worth of the allowed rate is outstanding: a sender at twice the limit
 * is closed after about three seconds, a single pasted burst never is.
 */
export class FloodGuard {
  #strikes = 0
  #since = 0
  #last = 0

  constructor (readonly rate: number) {}

  /** Records one refused message; returns true when the sender should be disconnected. */
  strike (now: number): boolean {
    this.#strikes = Math.max(0, this.#strikes - ((now - this.#last) * this.rate) / 2000)
    this.#last = now
    if (this.#strikes === 0) this.#since = now
    this.#strikes += 1
    return now - this.#since >= FLOOD_WINDOW_MS && this.#strikes >= this.rate
  }
}
