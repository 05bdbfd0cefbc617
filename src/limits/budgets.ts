// Token buckets shared by every socket (and upgrade) of one client, keyed by the client's key
// (clientKey): reconnecting does not give a client a new bucket. The map is bounded twice over: a
// bucket back at its burst is the same as a new one and is dropped, and past `maxClients` keys the
// oldest bucket goes, so a spray of addresses cannot grow it without limit.
import { TokenBucket } from '../hub/rate-limit.js'

export class Budgets {
  readonly #buckets = new Map<string, TokenBucket>()
  /** how long an empty bucket takes to fill: full ones are looked for at most this often */
  readonly #sweepEveryMs: number
  #lastSweep: number

  constructor (readonly rate: number, readonly burst: number, readonly maxClients: number, now = Date.now()) {
    this.#sweepEveryMs = Math.ceil((burst * 1000) / rate)
    this.#lastSweep = now
  }

  /** Takes one token of `key`'s budget; false when there is none. */
  take (key: string, now: number): boolean {
    const bucket = this.#buckets.get(key)
    if (bucket !== undefined) return bucket.take(now)
    return this.#add(key, now).take(now)
  }

  /** Milliseconds until `key` has a token (0: it has one now), without taking it. */
  wait (key: string, now: number): number {
    return this.#buckets.get(key)?.wait(now) ?? 0
  }

  /** Clients with a bucket that is not known to be full. */
  get size (): number {
    return this.#buckets.size
  }

  /** Drops every bucket that is back at its burst. */
  sweep (now: number): void {
    this.#lastSweep = now
    for (const [key, bucket] of this.#buckets) if (bucket.full(now)) this.#buckets.delete(key)
  }

  #add (key: string, now: number): TokenBucket {
    // only a new key grows the map, so only then is it worth looking for full buckets
    if (now - this.#lastSweep >= this.#sweepEveryMs) this.sweep(now)
    if (this.#buckets.size >= this.maxClients) {
      // still at the bound: the oldest client starts afresh (a Map iterates in insertion order)
      const oldest = this.#buckets.keys().next()
      if (oldest.done !== true) this.#buckets.delete(oldest.value)
    }
    const bucket = new TokenBucket(this.rate, this.burst, now)
    this.#buckets.set(key, bucket)
    return bucket
  }
}
