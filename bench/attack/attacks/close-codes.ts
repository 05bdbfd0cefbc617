// Close-code spray: echo sockets closed with client-chosen codes, each a different one of 3000-4999.
// A metric labelled by the peer's close code gets one more series per code, and series are never freed.
import { fetchText } from '../server.js'
import { loops, wsClose, wsOpen, type Attack } from '../kit.js'

const CONCURRENCY = 16
/** each half of the attack has codes of its own (3000-3999, then 4000-4999): the second half adds series too */
const PER_HALF = 1000
/**
 * Series of the metric a server may have without being open to this: a few routes times the codes a
 * server or a well-behaved client uses (1000, 1001, 1006, 1008, ...), or one bucket for application codes.
 */
export const SERIES_LIMIT = 50

/** The number of series of rt_connections_closed_total in a /metrics text. */
export function closedSeries (metrics: string): number {
  let n = 0
  for (const line of metrics.split('\n')) if (line.startsWith('rt_connections_closed_total{')) n++
  return n
}

export const closeCodes: Attack = {
  name: 'close-codes',
  unit: 'upgrades',
  async run (ctx) {
    const first = 3000 + ctx.half * PER_HALF
    let n = 0
    await loops(CONCURRENCY, ctx.until, async () => {
      const code = first + (n++ % PER_HALF)
      const ws = await wsOpen(ctx, '/ws/echo')
      if (ws !== undefined) await wsClose(ws, code)
    })
    ctx.tally.count('distinct codes used', Math.min(n, PER_HALF))
  },
  async afterwards (ctx) {
    const { status, body } = await fetchText(ctx.port, '/metrics')
    if (status !== 200) return { note: `GET /metrics: ${status}` }
    const series = closedSeries(body)
    const note = `rt_connections_closed_total series: ${series}`
    return series > SERIES_LIMIT ? { note, unbounded: `${series} metric series from client-chosen codes` } : { note }
  }
}
