// Runs each attack against a fresh server with default settings and measures what it did to the
// server: RSS and heap before (after a full GC), at the peak, and after (the attackers gone, a full
// GC again), CPU during and after, and how the server answered.
import { once } from 'node:events'
import { collected, cpuSeconds, rssBytes } from '../lib/proc.js'
import { Tally, type Attack, type AttackContext } from './kit.js'
import { MEM_DIR, fetchText, metricSum, metricValue, startServer, stopServer, type Entry, type Target } from './server.js'
import { bigBodies } from './attacks/big-bodies.js'
import { closeCodes } from './attacks/close-codes.js'
import { echoStall } from './attacks/echo-stall.js'
import { reconnect } from './attacks/reconnect.js'
import { roomMessages } from './attacks/room-messages.js'
import { roomReads } from './attacks/room-reads.js'
import { upgradeFlood } from './attacks/upgrade-flood.js'

export const ATTACKS: Attack[] = [roomReads, roomMessages, reconnect, upgradeFlood, echoStall, bigBodies, closeCodes]

const MB = 1024 * 1024
/** bounded: the RSS peak stays under this above the baseline... */
export const PEAK_LIMIT = 64 * MB
/** ...after the attack and a full GC, RSS is back within this of the baseline... */
export const AFTER_LIMIT = 16 * MB
/**
 * ...the second half of the attack does not keep more on the heap (after GC) than the first half left,
 * by this much in all and this much per request (either alone is within the noise of a full GC's reading
 * or of a short run on a busy machine)...
 */
export const SECOND_HALF_LIMIT = 512 * 1024
export const PER_UNIT_LIMIT = 256
/**
 * ...the server holds less than this unsent for one client that does not read (written by the client,
 * minus what the kernel queues at both ends): four times SEND_BUFFER_LIMIT_BYTES's default...
 */
export const BACKLOG_LIMIT = 4 * MB
/** ...and the server is not still busy once the attackers are gone (cores, over IDLE_MS) */
export const IDLE_CPU_LIMIT = 0.25
const IDLE_MS = 1000

export interface Reading { rss: number, heap: number }

export interface Row {
  attack: string
  unit: string
  sent: number
  /** of `sent`, how many in the second half */
  secondHalf: number
  seconds: number
  answers: Record<string, number>
  counts: Record<string, number>
  /** after a full GC: before the attack, between its halves, after it; peak: the highest seen while it ran */
  base: Reading
  mid: Reading
  peak: Reading
  after: Reading
  /** server CPU while the attack ran, and in the idle second after it, in cores */
  cpuDuring: number
  cpuAfter: number
  backlogPeak: number | null
  notes: string
  outcome: 'bounded' | 'UNBOUNDED'
  /** why, in numbers */
  verdict: string
}

export interface Options {
  seconds: number
  /** attack names to run (all when empty) */
  only: string[]
  entry: Entry
  /** one server for every attack, each measured from its own baseline (quicker; a fresh server each is cleaner) */
  shared?: boolean
  /** told of each row as it is measured */
  onRow?: (row: Row) => void
}

const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

/** One of each kind of request, so first-use costs (lazily compiled code, serializers) are in the baseline, not in the growth. */
async function warmUp (ctx: AttackContext): Promise<void> {
  const { default: WebSocket } = await import('ws')
  for (const path of ['/health', '/rooms/warmup', '/rooms/warmup/history', '/metrics']) await fetchText(ctx.port, path)
  for (const path of ['/ws/echo', '/ws/chat/warmup']) {
    const ws = new WebSocket(`ws://${ctx.host}:${ctx.port}${path}`)
    await new Promise<void>((resolve) => {
      ws.once('open', () => { ws.send('warm-up'); ws.once('message', () => ws.close()) })
      ws.once('close', () => resolve())
      ws.once('error', () => resolve())
    })
  }
}

/** Waits (at most 5 s) for the server to report no open sockets: the attackers' closes have been processed. */
async function drained (t: Target): Promise<boolean> {
  const until = Date.now() + 5000
  while (Date.now() < until) {
    const { status, body } = await fetchText(t.port, '/metrics')
    if (status === 200 && metricSum(body, 'rt_connections_open') === 0) return true
    await sleep(100)
  }
  return false
}

async function reading (t: Target): Promise<Reading> {
  const c = await collected(t.pid, MEM_DIR)
  return { rss: c.rss, heap: c.heapUsed }
}

function record (obj: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...obj].sort((a, b) => b[1] - a[1]))
}

const mb = (n: number) => `${n >= 0 ? '+' : ''}${(n / MB).toFixed(1)} MB`

type Judged = Pick<Row, 'base' | 'mid' | 'peak' | 'after' | 'cpuAfter' | 'secondHalf' | 'unit' | 'backlogPeak'>

export function judge (r: Judged, unbounded?: string): Pick<Row, 'outcome' | 'verdict'> {
  const grew = r.peak.rss - r.base.rss
  const kept = r.after.rss - r.base.rss
  const still = r.after.heap - r.mid.heap
  const perUnit = keptPerRequest(r)
  const failed: string[] = []
  if (grew >= PEAK_LIMIT) failed.push(`peak ${mb(grew)}`)
  if (kept >= AFTER_LIMIT) failed.push(`kept ${mb(kept)} after GC`)
  if (still >= SECOND_HALF_LIMIT && perUnit >= PER_UNIT_LIMIT) failed.push(`heap ${mb(still)} in the 2nd half, ${perUnit} B per ${r.unit.replace(/s$/, '')}`)
  if (r.backlogPeak !== null && r.backlogPeak >= BACKLOG_LIMIT) failed.push(`${mb(r.backlogPeak)} held unsent for one socket`)
  if (r.cpuAfter >= IDLE_CPU_LIMIT) failed.push(`${r.cpuAfter.toFixed(2)} cores busy after`)
  if (unbounded !== undefined) failed.push(unbounded)
  if (failed.length > 0) return { outcome: 'UNBOUNDED', verdict: failed.join(', ') }
  // below this many requests even PER_UNIT_LIMIT each stays under SECOND_HALF_LIMIT: the heap check cannot fire
  const enough = Math.ceil(SECOND_HALF_LIMIT / PER_UNIT_LIMIT)
  const heap = r.secondHalf >= enough
    ? `heap ${mb(still)} in the 2nd half`
    : `heap not judged: ${r.secondHalf} requests in the 2nd half, ${enough} needed (a busy machine? try a longer --seconds)`
  return { outcome: 'bounded', verdict: `peak ${mb(grew)}, kept ${mb(kept)}, ${heap}` }
}

/** Heap kept (after GC) per request in the second half, in bytes: what repeats per request. */
export function keptPerRequest (r: Pick<Row, 'mid' | 'after' | 'secondHalf'>): number {
  return Math.round((r.after.heap - r.mid.heap) / Math.max(1, r.secondHalf))
}

/** Runs the attack until `until`, keeping the highest RSS (from /proc, often) and heap (from the server's /metrics) seen. */
async function phase (attack: Attack, ctx: AttackContext, t: Target, peak: Reading, until: number): Promise<void> {
  const rssTimer = setInterval(() => {
    try { peak.rss = Math.max(peak.rss, rssBytes(t.pid)) } catch { /* exited: reported by the caller */ }
  }, 100)
  let scraping = false
  const heapTimer = setInterval(() => {
    if (scraping) return
    scraping = true
    fetchText(t.port, '/metrics', 1000).then(({ body }) => {
      const heap = metricValue(body, 'nodejs_heap_size_used_bytes')
      if (heap !== undefined) peak.heap = Math.max(peak.heap, heap)
    }, () => {}).finally(() => { scraping = false })
  }, 500)
  ctx.until = until
  try {
    await attack.run(ctx)
  } finally {
    clearInterval(rssTimer)
    clearInterval(heapTimer)
  }
  peak.rss = Math.max(peak.rss, rssBytes(t.pid))
}

function row (attack: Attack, tally: Tally, fields: Omit<Row, 'attack' | 'unit' | 'sent' | 'answers' | 'counts' | 'backlogPeak'>): Row {
  return {
    attack: attack.name,
    unit: attack.unit,
    sent: tally.sent,
    answers: record(tally.answers),
    counts: record(tally.counts),
    backlogPeak: tally.backlogPeak ?? null,
    ...fields
  }
}

/**
 * The attack in two halves, the attackers gone and a full GC after each: what the first half leaves
 * on the heap may be one-time (code compiled for paths first taken); what the second half adds again is
 * kept per request.
 */
async function measure (attack: Attack, opts: Options, shared: Target | undefined): Promise<Row> {
  const t = shared ?? await startServer(opts.entry, attack.name)
  const tally = new Tally()
  const ctx: AttackContext = { host: t.host, port: t.port, until: 0, half: 0, tally }
  const NONE = { rss: Number.NaN, heap: Number.NaN }
  let base: Reading = NONE
  let mid: Reading = NONE
  const peak: Reading = { ...NONE }
  let attacking = 0
  const notes: string[] = []
  try {
    await warmUp(ctx)
    base = await reading(t)
    Object.assign(peak, base)
    const halfMs = opts.seconds * 500
    const cpu0 = cpuSeconds(t.pid)
    let started = Date.now()
    await phase(attack, ctx, t, peak, started + halfMs)
    attacking = Date.now() - started
    let cpuDuring = cpuSeconds(t.pid) - cpu0
    if (!await drained(t)) notes.push('sockets still open 5 s after the 1st half')
    mid = await reading(t)
    const firstHalf = tally.sent
    ctx.half = 1
    const cpu1 = cpuSeconds(t.pid)
    started = Date.now()
    await phase(attack, ctx, t, peak, started + halfMs)
    attacking += Date.now() - started
    cpuDuring = (cpuDuring + cpuSeconds(t.pid) - cpu1) / (attacking / 1000)
    if (!await drained(t)) notes.push('sockets still open 5 s after the attack')
    const cpu2 = cpuSeconds(t.pid)
    await sleep(IDLE_MS)
    const cpuAfter = (cpuSeconds(t.pid) - cpu2) / (IDLE_MS / 1000)
    const extra = await attack.afterwards?.(ctx)
    if (extra !== undefined) notes.push(extra.note)
    const after = await reading(t)
    for (const [k, v] of tally.counts) notes.push(`${k}: ${Math.round(v)}`)
    const fields = { base, mid, peak, after, cpuAfter, secondHalf: tally.sent - firstHalf }
    const verdict = judge({ ...fields, unit: attack.unit, backlogPeak: tally.backlogPeak ?? null }, extra?.unbounded)
    return row(attack, tally, { ...fields, seconds: attacking / 1000, cpuDuring, notes: notes.join('; '), ...verdict })
  } catch (err) {
    const exited = () => t.child.exitCode !== null || t.child.signalCode !== null
    // a read from /proc can fail a moment before the exit is reported
    if (!exited()) await Promise.race([once(t.child, 'exit'), sleep(1000)])
    if (!exited()) throw err
    // a server that died under the attack is the worst outcome, not a harness error
    notes.push(t.output().slice(-300).replace(/\s+/g, ' '))
    return row(attack, tally, {
      seconds: attacking / 1000,
      secondHalf: Number.NaN,
      base,
      mid,
      peak,
      after: NONE,
      cpuDuring: Number.NaN,
      cpuAfter: Number.NaN,
      notes: notes.join('; '),
      outcome: 'UNBOUNDED',
      verdict: `the server exited (${String(t.child.exitCode ?? t.child.signalCode)})`
    })
  } finally {
    if (shared === undefined) await stopServer(t)
  }
}

/** Runs the chosen attacks in turn, each against its own fresh server; rows in the order of ATTACKS. */
export async function runAttacks (opts: Options): Promise<Row[]> {
  const unknown = opts.only.filter((n) => !ATTACKS.some((a) => a.name === n))
  if (unknown.length > 0) throw new Error(`unknown attack(s): ${unknown.join(', ')} (known: ${ATTACKS.map((a) => a.name).join(', ')})`)
  const rows: Row[] = []
  const shared = opts.shared === true ? await startServer(opts.entry, 'shared') : undefined
  try {
    for (const attack of ATTACKS) {
      if (opts.only.length > 0 && !opts.only.includes(attack.name)) continue
      const row = await measure(attack, opts, shared)
      opts.onRow?.(row)
      rows.push(row)
    }
  } finally {
    if (shared !== undefined) await stopServer(shared)
  }
  return rows
}
