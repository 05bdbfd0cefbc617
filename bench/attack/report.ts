// The attack table: one row per attack, as Markdown (printed, and pasted into the README).
import { SERIES_LIMIT } from './attacks/close-codes.js'
import { AFTER_LIMIT, BACKLOG_LIMIT, IDLE_CPU_LIMIT, PEAK_LIMIT, PER_UNIT_LIMIT, SECOND_HALF_LIMIT, keptPerRequest, type Row } from './harness.js'

const MB = 1024 * 1024
const mb = (n: number) => Number.isNaN(n) ? '-' : (n / MB).toFixed(1)
const count = (n: number) => Math.round(n).toLocaleString('en-US')

/** "101×1,234, 429×56, close 1000×1,230": every distinct answer with how often it came. */
export function answers (row: Row): string {
  return Object.entries(row.answers).map(([k, v]) => `${k}×${count(v)}`).join(', ')
}

export function table (rows: Row[]): string {
  const head = '| attack | sent | server answered | RSS MB before → peak → after | heap MB before → peak → after 1st half → after (2nd half kept per request) | CPU cores during / after | peak unsent MB held | outcome | notes |'
  const lines = [head, head.replace(/[^|]+/g, ' --- ')]
  for (const r of rows) {
    lines.push(`| ${r.attack} | ${count(r.sent)} ${r.unit} in ${r.seconds.toFixed(1)} s | ${answers(r)} ` +
      `| ${mb(r.base.rss)} → ${mb(r.peak.rss)} → ${mb(r.after.rss)} | ${mb(r.base.heap)} → ${mb(r.peak.heap)} → ${mb(r.mid.heap)} → ${mb(r.after.heap)} (${Number.isNaN(r.secondHalf) ? '-' : `${keptPerRequest(r)} B`}) ` +
      `| ${r.cpuDuring.toFixed(2)} / ${r.cpuAfter.toFixed(2)} | ${r.backlogPeak === null ? '-' : mb(r.backlogPeak)} ` +
      `| **${r.outcome}** (${r.verdict}) | ${r.notes} |`)
  }
  return lines.join('\n')
}

export const LEGEND = `bounded: RSS peak under ${PEAK_LIMIT / MB} MB above the baseline; RSS within ${AFTER_LIMIT / MB} MB of it ` +
  `after the attackers left and a full GC; the 2nd half of the attack keeping under ${SECOND_HALF_LIMIT / 1024} KB or under ` +
  `${PER_UNIT_LIMIT} B per request more on the heap (after GC) than the 1st half left; under ${BACKLOG_LIMIT / MB} MB held ` +
  `unsent in the server for a client that does not read; under ${IDLE_CPU_LIMIT} cores of CPU in the idle second after; and the ` +
  `check of the attack itself (close-codes: at most ${SERIES_LIMIT} metric series). Else UNBOUNDED.`
