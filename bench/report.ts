// What a run prints: a progress line per window, the table of every scenario, and the goals judged
// on its rows (also when a saved run is printed again with --report).
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { TITLE } from './lib/launch.js'
import type { Row } from './lib/types.js'

const fmt = (v: number | undefined, d = 1) => v === undefined ? '-' : v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(d)
const mb = (b: number) => (b / 1048576).toFixed(0)

/** The progress line of one window, printed as it comes back. */
export function printRow (r: Row): void {
  const mem = r.extra?.bytesPerSocket !== undefined
    ? ` ${(Number(r.extra.bytesPerSocket) / 1024).toFixed(2)} KB/socket (heap ${(Number(r.extra.heapBytesPerSocket) / 1024).toFixed(2)})`
    : ''
  process.stdout.write(`  ${r.server.padEnd(14)} ${r.label.padEnd(24)} ${fmt(r.rate).padStart(9)} ${r.unit}/s` +
    `  p50 ${fmt(r.p50Ms, 2)} p99 ${fmt(r.p99Ms, 2)} ms  srv ${fmt(r.serverCpuUs, 2)} µs/${r.unit}` +
    `  rss ${mb(r.serverRssBytes)} MB  gen ${(r.loadgenCpu * 100).toFixed(0)}% other ${((r.otherCpu ?? 0) * 100).toFixed(0)}%${mem}${r.error !== undefined ? '  ERROR ' + r.error : ''}\n`)
}

export interface Goal { goal: string, value: string, target: string, met: boolean | null, note?: string }

function find (rows: Row[], server: string, label: string): Row | undefined {
  return rows.find((r) => r.server === server && r.label === label && r.error === undefined)
}

const ratio = (a: number | undefined, b: number | undefined) => a === undefined || b === undefined || b === 0 ? undefined : a / b

/** Every goal the rows allow to judge: ours against the references, against itself, and in absolute terms. */
export function goals (rows: Row[]): Goal[] {
  const out: Goal[] = []
  // the main comparison's scenarios (the metrics variant's rows have servers of their own)
  const labels = [...new Set(rows.filter((r) => r.server === 'ours').map((r) => r.label))]
  const add = (goal: string, v: number | undefined, target: string, ok: (v: number) => boolean, note?: string) => {
    // a window during which other work took a quarter core or more is marked, not hidden
    const label = goal.split(':')[0] ?? ''
    const busy = Math.max(0, ...rows.filter((r) => r.label === label).map((r) => r.otherCpu ?? 0))
    if (busy >= 0.25 && note === undefined) note = `noisy: other work used ${busy.toFixed(2)} cores`
    out.push({ goal, value: v === undefined ? 'n/a' : `${v.toFixed(2)}x`, target, met: v === undefined ? null : ok(v), ...(note !== undefined ? { note } : {}) })
  }
  for (const l of labels.filter((x) => x.startsWith('echo ') && !x.includes('deflate'))) {
    const o = find(rows, 'ours', l)
    const w = find(rows, 'bare ws', l)
    const s = find(rows, 'Socket.IO', l)
    add(`${l}: throughput vs bare ws`, ratio(o?.rate, w?.rate), '>= 0.95x', (v) => v >= 0.95)
    add(`${l}: p99 vs bare ws`, ratio(o?.p99Ms, w?.p99Ms), '<= 1.1x', (v) => v <= 1.1)
    add(`${l}: throughput vs Socket.IO`, ratio(o?.rate, s?.rate), '>= 1.5x', (v) => v >= 1.5)
  }
  // a room ours could not fill has no fan-out row: that is a miss, not a blank
  const oursFillFailed = rows.find((r) => r.server === 'ours' && r.label.startsWith('fill ') && r.error !== undefined)
  const fanGoal = (l: string, target: string, ok: (v: number) => boolean) => {
    const o = find(rows, 'ours', l)
    if (o === undefined && oursFillFailed !== undefined && find(rows, 'bare ws', l) !== undefined) {
      out.push({ goal: `${l}: CPU/delivery vs bare ws`, value: 'not measured', target, met: false, note: `ours could not fill the room: ${oursFillFailed.label}` })
      return
    }
    add(`${l}: CPU/delivery vs bare ws`, ratio(o?.serverCpuUs, find(rows, 'bare ws', l)?.serverCpuUs), target, ok)
  }
  for (const l of labels.filter((x) => x.startsWith('fanout ') && x.endsWith(' one'))) fanGoal(l, '<= 1.0x', (v) => v <= 1.0)
  for (const l of labels.filter((x) => x.startsWith('fanout ') && x.endsWith(' flood'))) fanGoal(l, '<= 0.5x', (v) => v <= 0.5)
  // presence: past PRESENCE_EVENTS_MAX_MEMBERS a join must cost no more than one in a smaller room
  const fills = rows.filter((r) => r.server === 'ours' && r.label.startsWith('fill '))
  if (fills.length >= 3) {
    const mid = fills[fills.length - 2]!
    const last = fills[fills.length - 1]!
    if (last.error !== undefined) {
      // a fill that cannot finish in its budget is the quadratic case itself
      out.push({ goal: `room fill ${last.label.slice(5)}: CPU/join vs ${mid.label.slice(5)}`, value: 'did not finish', target: '<= 1.5x (not quadratic)', met: false, note: last.error })
    } else {
      add(`room fill ${last.label.slice(5)}: CPU/join vs ${mid.label.slice(5)}`, ratio(last.serverCpuUs, mid.serverCpuUs), '<= 1.5x (not quadratic)', (x) => x <= 1.5)
    }
    const ref = find(rows, 'bare ws', last.label)
    if (last.error !== undefined) {
      out.push({ goal: `${last.label}: CPU/join vs bare ws (presence capped at 1000)`, value: 'did not finish', target: '<= 1.5x', met: false })
    } else {
      add(`${last.label}: CPU/join vs bare ws (presence capped at 1000)`, ratio(last.serverCpuUs, ref?.serverCpuUs), '<= 1.5x', (x) => x <= 1.5)
    }
  }
  // growth: per-delivery cost from the smallest to the largest room. Every server pays more per
  // delivery in the largest room (caches, socket buffers), so ours is held to bare ws's growth
  const fanOne = (server: string) => rows.filter((r) => r.server === server && r.label.startsWith('fanout ') && r.label.endsWith(' one') && r.error === undefined)
  const oursOne = fanOne('ours')
  const wsOne = fanOne('bare ws')
  if (oursOne.length >= 2 && wsOne.length >= 2) {
    const lo = oursOne[0]!
    const hi = oursOne[oursOne.length - 1]!
    const wsLo = wsOne.find((r) => r.label === lo.label)
    const wsHi = wsOne.find((r) => r.label === hi.label)
    const ours = ratio(hi.serverCpuUs, lo.serverCpuUs)
    const ref = ratio(wsHi?.serverCpuUs, wsLo?.serverCpuUs)
    add(`growth: CPU/delivery ${lo.label.split(' ')[1]} -> ${hi.label.split(' ')[1]} members (one in flight), vs bare ws's growth`,
      ratio(ours, ref), '<= 1.25x (stays linear)', (x) => x <= 1.25,
      ours !== undefined && ref !== undefined ? `ours ${ours.toFixed(2)}x, bare ws ${ref.toFixed(2)}x` : undefined)
  }
  const idle = labels.find((x) => x.startsWith('idle ') && find(rows, 'bare ws', x) !== undefined)
  if (idle !== undefined) {
    // decided on what the sockets hold on the JS heap and in external memory after a full GC: registry
    // entries, ws and net.Socket objects. Native per-socket state is Node's own TCP stack in every server.
    // RSS per socket is reported beside it but cannot decide: it moves with where the allocator and V8
    // find room left by the boot, by more than the per-socket difference sought (bench/README.md)
    const held = (r: Row | undefined) => r === undefined ? undefined : heldPerSocket(r)
    const rss = (r: Row | undefined) => r === undefined ? '-' : `${(Number(r.extra?.bytesPerSocket) / 1024).toFixed(2)} KB`
    const ours = find(rows, 'ours', idle)
    const ws = find(rows, 'bare ws', idle)
    add(`${idle}: heap + external memory/socket vs bare ws`, ratio(held(ours), held(ws)), '<= 1.2x', (v) => v <= 1.2,
      `${held(ours) ?? '-'} B vs ${held(ws) ?? '-'} B; RSS/socket ${rss(ours)} vs ${rss(ws)} (reported, not decided on)`)
  }
  out.push(...hubGoals(rows, labels, add))
  out.push(...deflateGoals(rows))
  out.push(...metricsGoals(rows))
  out.push(...clusterGoals(rows))
  const hold = rows.find((r) => r.server === 'ours' && r.label.startsWith('hold '))
  if (hold !== undefined) {
    const dropped = Number(hold.extra?.dropped ?? 0) + Number(hold.extra?.failed ?? 0)
    out.push({ goal: `${hold.label} with heartbeats`, value: `${hold.extra?.opened ?? 0} open, ${dropped} dropped/refused`, target: '15000 open, 0 dropped', met: hold.error === undefined && dropped === 0 && Number(hold.extra?.opened) >= 15_000 })
  }
  return out
}

/**
 * Across instances on one Redis (bench/cluster.ts): ours against Socket.IO's two Redis adapters, the receiving
 * instance against a local delivery, and per-instance cost as instances are added.
 */
function clusterGoals (rows: Row[]): Goal[] {
  const out: Goal[] = []
  const get = (server: string, label: string) => rows.find((r) => r.server === server && r.label === label && r.error === undefined)
  const fmtX = (v: number | undefined) => v === undefined ? 'n/a' : `${v.toFixed(2)}x`
  const ours = get('ours', 'cross 2 instances')
  for (const sio of ['Socket.IO redis-adapter', 'Socket.IO sharded']) {
    const ref = get(sio, 'cross 2 instances')
    if (ours === undefined || ref === undefined) continue
    const rate = ratio(ours.rate, ref.rate)
    const p99 = ratio(ours.p99Ms, ref.p99Ms)
    out.push({ goal: `cross 2 instances: deliveries/s vs ${sio}`, value: fmtX(rate), target: '>= 2x', met: rate === undefined ? null : rate >= 2 })
    out.push({ goal: `cross 2 instances: p99 vs ${sio}`, value: fmtX(p99), target: '<= 1x', met: p99 === undefined ? null : p99 <= 1 })
  }
  const recv = get('ours', 'cross 2 instances #1')
  const local = get('ours', 'cross local (1 instance) #0')
  if (recv !== undefined && local !== undefined) {
    const x = ratio(recv.serverCpuUs, local.serverCpuUs)
    out.push({ goal: 'cross 2 instances: receiving instance CPU/delivery vs a local delivery', value: fmtX(x), target: '<= 1.2x', met: x === undefined ? null : x <= 1.2, note: `${recv.serverCpuUs} vs ${local.serverCpuUs} µs` })
  }
  // the serving instances' mean CPU per delivery, and the cores of the one that serves no room
  const serving = (n: number) => rows.filter((r) => r.server === 'ours' && r.label.startsWith(`scale ${n}+1 instances #`) && r.unit === 'delivery' && r.error === undefined)
  const mean = (rs: Row[]) => rs.length === 0 ? undefined : rs.reduce((a, r) => a + r.serverCpuUs, 0) / rs.length
  // with one instance a room's publisher and receivers share it, so each message is heard once; from two on,
  // by the publisher's instance and the receivers' (the publisher is a member): 2 -> 4 is the like-for-like step
  const x21 = ratio(mean(serving(2)), mean(serving(1)))
  if (x21 !== undefined) out.push({ goal: 'scale: per-instance CPU/delivery, 2 vs 1 instance', value: fmtX(x21), target: 'reported (1: no room crosses Redis twice)', met: null })
  const x42 = ratio(mean(serving(4)), mean(serving(2)))
  if (x42 !== undefined) out.push({ goal: 'scale: per-instance CPU/delivery, 4 vs 2 instances', value: fmtX(x42), target: '<= 1.2x (flat)', met: x42 <= 1.2 })
  const bystander = rows.find((r) => r.server === 'ours' && r.label === 'scale 4+1 instances #4' && r.error === undefined)
  if (bystander !== undefined) {
    const cores = Number(bystander.extra?.cores ?? 0)
    out.push({ goal: 'scale 4+1: an instance serving none of the 40 rooms', value: `${(cores * 100).toFixed(1)}% of a core`, target: '<= 2% (near zero)', met: cores <= 0.02, note: `${bystander.serverCpuUs} µs per message published elsewhere` })
  }
  return out
}

/**
 * What updating metrics costs the hot path: ours against itself with METRICS_ENABLED=false, in the
 * same mirrored rounds. The per-frame counters stay (the admin API reads them), so this is the cost of
 * the Prometheus plugin: event counters, the fan-out histogram, and a scrape's summing (none here).
 */
function metricsGoals (rows: Row[]): Goal[] {
  const out: Goal[] = []
  for (const off of rows.filter((r) => r.server === TITLE.bare && r.error === undefined)) {
    const on = rows.find((r) => r.server === 'ours, metrics on' && r.label === off.label && r.error === undefined)
    if (on === undefined) continue
    const x = ratio(on.serverCpuUs, off.serverCpuUs)
    // joins are not the message path (a connect costs one labelled increment): reported, not judged
    const judged = !off.label.startsWith('fill ')
    out.push({
      goal: `${off.label}: CPU per ${off.unit} with metrics vs without`,
      value: x === undefined ? 'n/a' : `${x.toFixed(3)}x`,
      target: judged ? '<= 1.05x (no measurable share)' : 'reported',
      met: x === undefined || !judged ? null : x <= 1.05,
      note: `${on.serverCpuUs} vs ${off.serverCpuUs} µs`
    })
  }
  return out
}

/**
 * The /ws/hub scenarios: CPU per delivery to sockets in many rooms against bare ws's hub (both windows held
 * to 1.0x), and what one more subscription holds on an idle socket (an absolute goal; the memory per socket
 * against bare ws's is reported beside it).
 */
function hubGoals (rows: Row[], labels: string[], add: (goal: string, v: number | undefined, target: string, ok: (v: number) => boolean, note?: string) => void): Goal[] {
  const out: Goal[] = []
  const perMember = rows.find((r) => r.label.startsWith('hub fill '))?.extra?.roomsPerMember ?? '-'
  for (const l of labels.filter((x) => x.startsWith('hub fanout '))) {
    add(`${l}: CPU/delivery vs bare ws (${perMember} rooms per socket)`,
      ratio(find(rows, 'ours', l)?.serverCpuUs, find(rows, 'bare ws', l)?.serverCpuUs), '<= 1.0x', (v) => v <= 1.0)
  }
  const failed = rows.find((r) => r.server === 'ours' && r.label.startsWith('hub fill ') && r.error !== undefined)
  if (failed !== undefined) out.push({ goal: `${failed.label}: hub room fill`, value: 'did not finish', target: 'every member subscribed', met: false, note: failed.error })
  const idle = rows.find((r) => r.server === 'ours' && r.label.startsWith('hub idle ') && r.extra?.heldBytesPerSubscription !== undefined)
  if (idle !== undefined) {
    const perSub = Number(idle.extra?.heldBytesPerSubscription)
    const ws = find(rows, 'bare ws', idle.label)
    out.push({
      goal: `${idle.label}: heap + external per subscription`,
      value: `${perSub} B`,
      target: '< 200 B',
      met: perSub < 200,
      note: `(held with ${idle.extra?.rooms} rooms - held with 1) / ${Number(idle.extra?.rooms) - 1} per socket; heap alone ${idle.extra?.heapBytesPerSubscription} B; bare ws ${ws?.extra?.heldBytesPerSubscription ?? '-'} B`
    })
    const held = heldPerSocket(idle)
    const wsHeld = ws === undefined ? undefined : heldPerSocket(ws)
    out.push({
      goal: `${idle.label}: heap + external memory/socket vs bare ws`,
      value: wsHeld === undefined ? 'n/a' : `${(held / wsHeld).toFixed(2)}x`,
      target: 'reported',
      met: null,
      note: `${held} B vs ${wsHeld ?? '-'} B; RSS/socket ${(Number(idle.extra?.bytesPerSocket) / 1024).toFixed(2)} KB vs ${ws === undefined ? '-' : (Number(ws.extra?.bytesPerSocket) / 1024).toFixed(2)} KB`
    })
  }
  return out
}

/** What an idle window's sockets hold after a full GC: JS heap + external memory, per socket. */
function heldPerSocket (r: Row): number {
  return Number(r.extra?.heapBytesPerSocket) + Number(r.extra?.externalBytesPerSocket)
}

/** What permessage-deflate costs ours. No target is set for it: reported, not judged. */
export function deflateSummary (rows: Row[]): Record<string, number | string> | undefined {
  const echo = rows.find((r) => r.server === 'ours' && r.label.startsWith('echo ') && r.label.endsWith(' deflate') && r.error === undefined)
  const idle = rows.find((r) => r.server === 'ours' && r.label.startsWith('idle ') && r.label.endsWith(' deflate') && r.error === undefined)
  if (echo === undefined && idle === undefined) return undefined
  const out: Record<string, number | string> = {}
  if (echo !== undefined) {
    const plain = find(rows, 'ours', echo.label.slice(0, -' deflate'.length))
    const ref = find(rows, 'bare ws', echo.label)
    out.echoLabel = echo.label
    out.cpuUsPerMsg = echo.serverCpuUs
    out.rate = echo.rate
    if (plain !== undefined) { out.cpuUsPerMsgWithout = plain.serverCpuUs; out.rateWithout = plain.rate }
    if (ref !== undefined) { out.bareWsCpuUsPerMsg = ref.serverCpuUs; out.bareWsRate = ref.rate }
  }
  if (idle !== undefined) {
    const n = idle.label.split(' ')[1]
    const plain = find(rows, 'ours', `idle ${n} sockets`)
    const talked = find(rows, 'ours', `${idle.label}, 1 msg each`)
    // heap + external for the negotiated/declined pair (RSS moves more from run to run than negotiating
    // costs); RSS once zlib state exists: zlib's own allocations are native memory that V8's external
    // figure counts only in part
    out.sockets = Number(n)
    out.heldPerSocketNegotiated = heldPerSocket(idle)
    if (plain !== undefined) out.heldPerSocketWithout = heldPerSocket(plain)
    if (talked !== undefined) {
      out.rssPerSocketAfterOneMessage = Number(talked.extra?.bytesPerSocket)
      out.heldPerSocketAfterOneMessage = heldPerSocket(talked)
    }
  }
  return out
}

function deflateGoals (rows: Row[]): Goal[] {
  const d = deflateSummary(rows)
  if (d === undefined) return []
  const out: Goal[] = []
  const x = (a: unknown, b: unknown) => typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a'
  const kb = (v: unknown) => typeof v === 'number' ? `${(v / 1024).toFixed(1)} KB` : 'n/a'
  if (d.echoLabel !== undefined) {
    out.push({ goal: `${d.echoLabel}: ours CPU/msg vs ours without deflate`, value: x(d.cpuUsPerMsg, d.cpuUsPerMsgWithout), target: 'reported', met: null, note: `${d.cpuUsPerMsg} vs ${d.cpuUsPerMsgWithout ?? 'n/a'} µs/msg` })
    out.push({ goal: `${d.echoLabel}: ours throughput vs bare ws + deflate`, value: x(d.rate, d.bareWsRate), target: 'reported', met: null, note: `CPU/msg ${x(d.cpuUsPerMsg, d.bareWsCpuUsPerMsg)}; bare ws runs ws's default zlib options` })
  }
  if (d.sockets !== undefined) {
    out.push({ goal: `idle ${d.sockets} sockets: ours heap + external/socket, deflate negotiated vs not`, value: x(d.heldPerSocketNegotiated, d.heldPerSocketWithout), target: 'reported', met: null, note: `${kb(d.heldPerSocketNegotiated)} vs ${kb(d.heldPerSocketWithout)}` })
    out.push({ goal: `idle ${d.sockets} sockets: ours RSS/socket after 1 deflated msg each`, value: kb(d.rssPerSocketAfterOneMessage), target: 'reported', met: null, note: `of it heap + external ${kb(d.heldPerSocketAfterOneMessage)}; without deflate ${kb(d.heldPerSocketWithout)} heap + external` })
  }
  return out
}

/** Every window, grouped by scenario (ours first), with ours' ratios to the references. */
export function table (rows: Row[]): string {
  const head = '| scenario | server | rate | p50 ms | p99 ms | server µs/unit | server RSS MB | loadgen CPU | other CPU | vs bare ws | ours vs Socket.IO |'
  const lines = [head, '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|']
  const labelOrder = [...new Set(rows.map((r) => r.label))]
  const serverOrder = ['ours', 'bare ws', TITLE['ws-heap'], 'Socket.IO']
  const sorted = [...rows].sort((a, b) => labelOrder.indexOf(a.label) - labelOrder.indexOf(b.label) ||
    serverOrder.indexOf(a.server) - serverOrder.indexOf(b.server))
  for (const r of sorted) {
    let vsWs = ''
    let vsSio = ''
    // ours against both references; the ws-heap control against bare ws
    if ((r.server === 'ours' || r.server === TITLE['ws-heap']) && r.error === undefined) {
      const cmp = (other: string) => {
        const o = find(rows, other, r.label)
        if (o === undefined) return ''
        if (r.extra?.bytesPerSocket !== undefined) {
          return `heap+ext ${fmt(ratio(heldPerSocket(r), heldPerSocket(o)), 2)}x, rss ${fmt(ratio(Number(r.extra.bytesPerSocket), Number(o.extra?.bytesPerSocket)), 2)}x`
        }
        const parts: string[] = []
        if (r.rate > 0 && o.rate > 0) parts.push(`rate ${fmt(ratio(r.rate, o.rate), 2)}x`)
        if (r.serverCpuUs > 0 && o.serverCpuUs > 0) parts.push(`cpu ${fmt(ratio(r.serverCpuUs, o.serverCpuUs), 2)}x`)
        if (r.p99Ms !== undefined && o.p99Ms !== undefined) parts.push(`p99 ${fmt(ratio(r.p99Ms, o.p99Ms), 2)}x`)
        return parts.join(', ')
      }
      vsWs = cmp('bare ws')
      if (r.server === 'ours') vsSio = cmp('Socket.IO')
    }
    const rate = r.extra?.bytesPerSocket !== undefined
      ? `${(Number(r.extra.bytesPerSocket) / 1024).toFixed(2)} KB/socket RSS, ${(heldPerSocket(r) / 1024).toFixed(2)} KB heap+ext`
      : r.label.startsWith('hold ') ? `${r.extra?.opened ?? 0} open, ${r.extra?.dropped ?? 0} dropped` : `${fmt(r.rate)} ${r.unit}/s`
    lines.push(`| ${r.label} | ${r.server} | ${r.error !== undefined ? 'ERROR: ' + r.error.replace(/\|/g, '/') : rate} | ${fmt(r.p50Ms, 2)} | ${fmt(r.p99Ms, 2)} | ` +
      `${r.serverCpuUs > 0 ? fmt(r.serverCpuUs, 2) + ' /' + r.unit : '-'} | ${mb(r.serverRssBytes)} | ${(r.loadgenCpu * 100).toFixed(0)}% | ` +
      `${((r.otherCpu ?? 0) * 100).toFixed(0)}% | ${vsWs} | ${vsSio} |`)
  }
  return lines.join('\n')
}

export function goalTable (gs: Goal[]): string {
  const lines = ['| goal | ours | target | met |', '|---|--:|--:|:-:|']
  for (const g of gs) lines.push(`| ${g.goal} | ${g.value} | ${g.target} | ${g.met === null ? (g.target === 'reported' ? '-' : 'n/a') : g.met ? 'yes' : 'NO'}${g.note !== undefined ? ' (' + g.note + ')' : ''} |`)
  return lines.join('\n')
}

export function machine (): Record<string, string | number> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8')
  return {
    nproc: availableParallelism(),
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 'unknown',
    node: process.version,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()
  }
}
