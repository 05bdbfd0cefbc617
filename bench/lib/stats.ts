// Statistics of the bench: latency percentiles (whole window and 250 ms slices), CPU and memory of a
// measured window sampled from /proc, the mean of mirrored rounds, and waiting for a quiet machine.
import { setTimeout as sleep } from 'node:timers/promises'
import { cpuSeconds, machineBusySeconds, rssBytes } from './proc.js'
import type { Row, Window } from './types.js'

/** hard cap on latency samples kept per window (then every other one is dropped) */
const SAMPLE_CAP = 1 << 19
const SLICE_CAP = 1 << 16

export function round (v: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

export function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** Latency samples of one window, bounded in memory, with per-slice percentiles on the side. */
export class Samples {
  private arr = new Float64Array(SAMPLE_CAP)
  private n = 0
  private stride = 1
  private tick = 0
  private readonly cur = new Float64Array(SLICE_CAP)
  private curN = 0
  readonly slices: Array<{ p50: number, p99: number }> = []
  add (v: number): void {
    if (this.curN < SLICE_CAP) this.cur[this.curN++] = v
    if (++this.tick < this.stride) return
    this.tick = 0
    if (this.n === SAMPLE_CAP) {
      for (let i = 0; i < SAMPLE_CAP / 2; i++) this.arr[i] = this.arr[i * 2]!
      this.n = SAMPLE_CAP / 2
      this.stride *= 2
    }
    this.arr[this.n++] = v
  }

  /** closes the current slice (called by the Meter every 250 ms) */
  slice (): void {
    if (this.curN >= 20) {
      const s = this.cur.slice(0, this.curN).sort()
      this.slices.push({ p50: s[Math.floor(0.5 * this.curN)]!, p99: s[Math.floor(0.99 * this.curN)]! })
    }
    this.curN = 0
  }

  percentiles (): { p50Ms?: number, p99Ms?: number, maxMs?: number } {
    if (this.n === 0) return {}
    const s = this.arr.slice(0, this.n).sort()
    const at = (q: number) => round(s[Math.min(this.n - 1, Math.floor(q * this.n))]!, 3)
    return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round(s[this.n - 1]!, 3) }
  }
}

/**
 * Server CPU, server RSS and our own CPU across one measured window. With a counter it also
 * takes 250 ms slices and reports the median slice's rate and CPU per unit, so that one burst of
 * noise from the rest of a shared machine does not decide the result.
 */
export class Meter {
  private readonly cpu0: number
  private readonly self0: NodeJS.CpuUsage
  private readonly t0: number
  private readonly busy0: number
  private readonly slices: Array<{ rate: number, cpuUs: number }> = []
  private timer: NodeJS.Timeout | undefined
  constructor (private readonly pid: number, counter?: () => number, private readonly samples?: Samples) {
    this.cpu0 = cpuSeconds(pid)
    this.self0 = process.cpuUsage()
    this.t0 = performance.now()
    this.busy0 = machineBusySeconds()
    if (counter !== undefined) {
      let last = { t: this.t0, cpu: this.cpu0, n: counter() }
      this.timer = setInterval(() => {
        const cur = { t: performance.now(), cpu: cpuSeconds(pid), n: counter() }
        const dn = cur.n - last.n
        if (dn > 0) this.slices.push({ rate: dn * 1000 / (cur.t - last.t), cpuUs: (cur.cpu - last.cpu) * 1e6 / dn })
        last = cur
        samples?.slice()
      }, 250)
    }
  }

  finish (label: string, unit: string, count: number, samples?: Samples, extra?: Record<string, number | string>): Window {
    clearInterval(this.timer)
    const seconds = (performance.now() - this.t0) / 1000
    const cpu = cpuSeconds(this.pid) - this.cpu0
    const self = process.cpuUsage(this.self0)
    const selfSec = (self.user + self.system) / 1e6
    // CPU used by anything but the server and us: other work on a shared machine skews the window
    const other = Math.max(0, machineBusySeconds() - this.busy0 - cpu - selfSec) / seconds
    const w: Window = {
      label,
      unit,
      count,
      seconds: round(seconds, 3),
      rate: round(count / seconds, 1),
      ...(samples?.percentiles() ?? {}),
      serverCpuSec: round(cpu, 3),
      serverCpuUs: count > 0 ? round(cpu * 1e6 / count, 3) : 0,
      serverRssBytes: rssBytes(this.pid),
      loadgenCpu: round(selfSec / seconds, 3),
      otherCpu: round(other, 3)
    }
    if (extra !== undefined) w.extra = extra
    if (this.slices.length >= 4) {
      // the whole-window figures stay in extra; the headline is the median slice
      w.extra = { ...w.extra, windowRate: w.rate, windowCpuUs: w.serverCpuUs, slices: this.slices.length }
      w.rate = round(median(this.slices.map((x) => x.rate)), 1)
      w.serverCpuUs = round(median(this.slices.map((x) => x.cpuUs)), 3)
    }
    const lat = this.samples?.slices ?? []
    if (lat.length >= 4 && w.p50Ms !== undefined && w.p99Ms !== undefined) {
      w.extra = { ...w.extra, windowP50Ms: w.p50Ms, windowP99Ms: w.p99Ms }
      w.p50Ms = round(median(lat.map((x) => x.p50)), 3)
      w.p99Ms = round(median(lat.map((x) => x.p99)), 3)
    }
    return w
  }
}

/** One row per server and label: the mean of the rounds (rates, CPU, latency), the worst noise. */
export function mergeRounds (perRound: Row[][]): Row[] {
  const out: Row[] = []
  for (const first of perRound[0]!) {
    const same = perRound.map((rs) => rs.find((r) => r.server === first.server && r.label === first.label))
    if (same.some((r) => r === undefined || r.error !== undefined)) {
      out.push(same.find((r) => r?.error !== undefined) ?? first)
      continue
    }
    const rs = same as Row[]
    const mean = (f: (r: Row) => number) => rs.reduce((a, r) => a + f(r), 0) / rs.length
    const merged: Row = {
      ...first,
      count: rs.reduce((a, r) => a + r.count, 0),
      seconds: rs.reduce((a, r) => a + r.seconds, 0),
      rate: Math.round(mean((r) => r.rate) * 10) / 10,
      serverCpuUs: Math.round(mean((r) => r.serverCpuUs) * 1000) / 1000,
      serverCpuSec: rs.reduce((a, r) => a + r.serverCpuSec, 0),
      loadgenCpu: Math.round(mean((r) => r.loadgenCpu) * 1000) / 1000,
      otherCpu: Math.max(...rs.map((r) => r.otherCpu ?? 0)),
      extra: { ...first.extra, rounds: rs.length, roundRates: rs.map((r) => r.rate).join(' ') }
    }
    if (rs.every((r) => r.p50Ms !== undefined)) merged.p50Ms = Math.round(mean((r) => r.p50Ms!) * 1000) / 1000
    if (rs.every((r) => r.p99Ms !== undefined)) merged.p99Ms = Math.round(mean((r) => r.p99Ms!) * 1000) / 1000
    out.push(merged)
  }
  return out
}

/** Waits (at most maxSeconds) until the rest of the machine uses under 0.3 of a core, and says how busy it was. */
export async function quiet (maxSeconds: number): Promise<number> {
  let other = 0
  for (let i = 0; i < maxSeconds; i++) {
    const b0 = machineBusySeconds()
    await sleep(1000)
    other = machineBusySeconds() - b0
    if (other < 0.3) break
    if (i === 0) process.stdout.write(`  (waiting for the machine to calm down: ${other.toFixed(2)} cores busy)\n`)
  }
  return other
}

/** Waits until the process uses under 5% of a core over 250 ms, or `maxMs` pass. */
export async function settle (pid: number, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs
  while (Date.now() < end) {
    let c0: number
    try {
      c0 = cpuSeconds(pid)
    } catch {
      return
    }
    await sleep(250)
    try {
      if (cpuSeconds(pid) - c0 < 0.0125) return
    } catch {
      return
    }
  }
}
