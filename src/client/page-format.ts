// What the page says and how it groups: pure (no DOM), so it is unit-tested under Node.
import type { StateDetail } from './realtime-socket.js'

/** A socket state for the badge (`kind` is its colour), and as a sentence for the live region and the hints. */
export function stateText (d: StateDetail, now: number): { kind: string, badge: string, sentence: string } {
  if (d.refused !== undefined) {
    return { kind: 'REFUSED', badge: `REFUSED ${d.refused.status}: ${d.refused.message}`, sentence: `refused by the server (${d.refused.status}: ${d.refused.message})` }
  }
  if (d.stopped !== undefined) {
    return { kind: 'REFUSED', badge: `STOPPED ${d.stopped.code}: ${d.stopped.reason}`, sentence: `closed by the server (${d.stopped.code}: ${d.stopped.reason || 'no reason'}), not reconnecting` }
  }
  if (d.retryAt !== undefined) {
    const s = Math.max(0, Math.ceil((d.retryAt - now) / 1000))
    return { kind: d.state, badge: `${d.state} · reconnecting in ${s} s`, sentence: `connection lost, reconnecting in ${s} s` }
  }
  const sentence = d.state === 'OPEN' ? 'connected' : d.state === 'CONNECTING' ? 'connecting' : d.state === 'CLOSING' ? 'closing' : 'not connected'
  return { kind: d.state, badge: d.state, sentence }
}

const pad = (n: number): string => String(n).padStart(2, '0')

/** Local time of day: 14:03 (with seconds: 14:03:09). */
export function shortTime (ts: number, seconds = false): string {
  const d = new Date(ts)
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? ':' + pad(d.getSeconds()) : ''}`
}

/** The full local date and time, for a hover title. */
let full: Intl.DateTimeFormat | undefined // built once: a formatter costs far more to make than to use
export function fullTime (ts: number): string {
  full ??= new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' })
  return full.format(ts)
}

/** For a message of another day than `now`'s (local): its date and time ("12 Nov 14:03", with the year if another); today: undefined. */
export function dayLabel (ts: number, now: number): string | undefined {
  const d = new Date(ts)
  const n = new Date(now)
  if (d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate()) return undefined
  const opts: Intl.DateTimeFormatOptions = d.getFullYear() === n.getFullYear() ? { day: 'numeric', month: 'short' } : { day: 'numeric', month: 'short', year: 'numeric' }
  return `${d.toLocaleDateString(undefined, opts)} ${shortTime(ts)}`
}

/** A message joins the previous one's group: same sender, within `windowMs` of it. */
export function groupsWith (prev: { from: string, ts: number }, m: { from: string, ts: number }, windowMs: number): boolean {
  return prev.from === m.from && m.ts - prev.ts >= 0 && m.ts - prev.ts < windowMs
}
