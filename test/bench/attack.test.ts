// The attack harness, run for real in a short mode (two cheap attacks, a second each, on one server
// from source), and its verdict rule on plain values.
import t from 'tap'
import { closedSeries } from '../../bench/attack/attacks/close-codes.js'
import { kernelQueued } from '../../bench/attack/attacks/echo-stall.js'
import { AFTER_LIMIT, BACKLOG_LIMIT, PEAK_LIMIT, judge, runAttacks, type Reading } from '../../bench/attack/harness.js'
import { table } from '../../bench/attack/report.js'
import { metricSum, metricValue } from '../../bench/attack/server.js'

const MB = 1024 * 1024

t.test('a short run gives one well-formed row per attack', async (t) => {
  // one server for both: each start from source is the slowest part of this test
  const rows = await runAttacks({ seconds: 1, only: ['room-reads', 'close-codes'], entry: 'source', shared: true })
  t.same(rows.map((r) => r.attack), ['room-reads', 'close-codes'])
  for (const r of rows) {
    t.ok(r.sent > 0, `${r.attack}: sent ${r.sent}`)
    t.ok(r.secondHalf > 0 && r.secondHalf < r.sent, `${r.attack}: both halves ran`)
    t.ok(r.seconds >= 0.9 && r.seconds < 10, `${r.attack}: ran ${r.seconds} s`)
    for (const key of ['base', 'mid', 'peak', 'after'] as const) {
      const m: Reading = r[key]
      // a Node server holds tens of MB resident and a few MB of heap: these are readings, not zeros
      t.ok(m.rss > 10 * MB && m.rss < 4096 * MB, `${r.attack}: ${key} RSS ${m.rss}`)
      t.ok(m.heap > 1 * MB && m.heap < 4096 * MB, `${r.attack}: ${key} heap ${m.heap}`)
    }
    t.ok(r.peak.rss >= r.base.rss && r.peak.heap >= r.base.heap, `${r.attack}: the peak is at least the baseline`)
    t.ok(Number.isFinite(r.cpuDuring) && r.cpuDuring > 0, `${r.attack}: CPU during ${r.cpuDuring}`)
    t.ok(Number.isFinite(r.cpuAfter) && r.cpuAfter >= 0, `${r.attack}: CPU after ${r.cpuAfter}`)
    t.ok(r.outcome === 'bounded' || r.outcome === 'UNBOUNDED', `${r.attack}: ${r.outcome} (${r.verdict})`)
    t.ok(r.verdict.length > 0)
  }
  const [reads, codes] = rows
  // every GET answered with a status, counted
  t.equal(Object.values(reads!.answers).reduce((a, b) => a + b, 0), reads!.sent)
  t.ok(Object.keys(reads!.answers).every((k) => /^\d{3}$/.test(k)), `statuses: ${Object.keys(reads!.answers).join(', ')}`)
  t.ok((codes!.answers['101'] ?? 0) > 0, 'close-codes: upgrades succeeded')
  const series = /rt_connections_closed_total series: (\d+)/.exec(codes!.notes)
  t.ok(series !== null, `close-codes reports the series: ${codes!.notes}`)
  const lines = table(rows).split('\n')
  t.equal(lines.length, 2 + rows.length, 'a header, a rule and a line per row')
  for (const line of lines) t.equal(line.split('|').length, lines[0]!.split('|').length, 'as many cells in every line')
})

t.test('unknown attack names are refused before any server starts', async (t) => {
  await t.rejects(runAttacks({ seconds: 1, only: ['nope'], entry: 'source' }), /unknown attack\(s\): nope/)
})

t.test('the verdict rule', async (t) => {
  const at = (rss: number, heap = 20 * MB): Reading => ({ rss: 100 * MB + rss, heap })
  const ok = { base: at(0), mid: at(2 * MB), peak: at(10 * MB), after: at(2 * MB), cpuAfter: 0, secondHalf: 1000, unit: 'GETs', backlogPeak: null }
  t.equal(judge(ok).outcome, 'bounded', judge(ok).verdict)
  t.match(judge({ ...ok, peak: at(PEAK_LIMIT) }).verdict, /peak \+64\.0 MB/)
  t.equal(judge({ ...ok, after: at(AFTER_LIMIT) }).outcome, 'UNBOUNDED')
  // kept again by the second half: 600 KB over 1,000 GETs
  const grown = judge({ ...ok, after: at(2 * MB, 20 * MB + 600 * 1024) })
  t.equal(grown.outcome, 'UNBOUNDED')
  t.match(grown.verdict, /614 B per GET/)
  // the same growth over many more requests is within the per-request noise; a small total is within a GC's noise
  t.equal(judge({ ...ok, after: at(2 * MB, 20 * MB + 600 * 1024), secondHalf: 100_000 }).outcome, 'bounded')
  t.equal(judge({ ...ok, after: at(2 * MB, 20 * MB + 100 * 1024), secondHalf: 10 }).outcome, 'bounded')
  t.equal(judge({ ...ok, backlogPeak: BACKLOG_LIMIT }).outcome, 'UNBOUNDED')
  t.equal(judge({ ...ok, cpuAfter: 0.5 }).outcome, 'UNBOUNDED')
  t.match(judge(ok, '900 metric series').verdict, /900 metric series/)
})

t.test('metrics text parsing', async (t) => {
  const text = [
    '# HELP rt_connections_open x', 'rt_connections_open{route="echo"} 2', 'rt_connections_open{route="chat"} 3',
    'nodejs_heap_size_used_bytes 12345', 'rt_connections_closed_total{route="echo",code="3000"} 1',
    'rt_connections_closed_total{route="echo",code="1000"} 4'
  ].join('\n')
  t.equal(metricSum(text, 'rt_connections_open'), 5)
  t.equal(metricValue(text, 'nodejs_heap_size_used_bytes'), 12345)
  t.equal(metricValue(text, 'absent'), undefined)
  t.equal(closedSeries(text), 2)
})

t.test('kernel queues of one loopback connection, from /proc/net/tcp', async (t) => {
  // client 127.0.0.1:50000 (C350) <-> server 127.0.0.1:8080 (1F90); another connection on the same server port
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1',
    '   1: 0100007F:C350 0100007F:1F90 01 00000100:00000010 00:00000000 00000000     0        0 2',
    '   2: 0100007F:1F90 0100007F:C350 01 00001000:00000001 00:00000000 00000000     0        0 3',
    '   3: 0100007F:1F90 0100007F:C351 01 0000FFFF:0000FFFF 00:00000000 00000000     0        0 4'
  ].join('\n')
  t.equal(kernelQueued(50000, 8080, table), 0x100 + 0x10 + 0x1000 + 0x1)
  // the server's end gone (or no longer established): nothing to subtract from, no reading
  t.equal(kernelQueued(50000, 8080, table.split('\n').slice(0, 3).join('\n')), undefined)
  t.equal(kernelQueued(50000, 8080, table.replace(' 0100007F:C350 01 ', ' 0100007F:C350 04 ')), undefined)
})
