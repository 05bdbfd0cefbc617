// Reconnect delays: exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter").
// Pure: no DOM, no timers, so it is unit-tested under Node.

export interface BackoffOptions {
  /** first ceiling, ms */
  baseMs: number
  /** the ceiling never grows past this, ms */
  capMs: number
  /** never retry sooner than this, ms (no tight loop even when the random draw is 0) */
  minMs: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000, minMs: 250 }

/** Delay before reconnect attempt `attempt` (0-based): uniform in [minMs, min(capMs, baseMs * 2^attempt)]. */
export function backoffDelay (attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(attempt, 30))
  return Math.max(opts.minMs, Math.floor(random() * ceiling))
}
