// Process sampling from /proc: CPU time (utime + stime) and resident memory of any pid.
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

let ticksPerSecond: number | undefined

/** Clock ticks per second of /proc/<pid>/stat (`getconf CLK_TCK`, 100 on Linux almost always). */
export function clockTicks (): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      ticksPerSecond = 100
    }
  }
  return ticksPerSecond
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state); utime is field 14, stime field 15
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  return (utime + stime) / clockTicks()
}

/** Resident set size in bytes (VmRSS of /proc/<pid>/status). */
export function rssBytes (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  return m === null ? 0 : Number(m[1]) * 1024
}

export interface ProcSample { at: number, cpu: number, rss: number }

export function sample (pid: number): ProcSample {
  return { at: performance.now(), cpu: cpuSeconds(pid), rss: rssBytes(pid) }
}

/** CPU seconds the whole machine has been busy (all cores; user, nice, system, irq, softirq, steal). */
export function machineBusySeconds (): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? ''
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0)
  return busy / clockTicks()
}

export interface Collected { rss: number, heapUsed: number, external: number }

/**
 * Asks a server started with bench/lib/gc-hook for a full GC (SIGUSR2) and returns its memory
 * after it: RSS from /proc, heap and external from the hook's report. Throws after 5 s without one.
 */
export async function collected (pid: number, memDir: string): Promise<Collected> {
  const file = `${memDir}/${pid}.json`
  const asked = Date.now()
  process.kill(pid, 'SIGUSR2')
  for (let i = 0; i < 100; i++) {
    await sleep(50)
    let report: { at: number, heapUsed: number, external: number } | undefined
    try {
      report = JSON.parse(readFileSync(file, 'utf8')) as { at: number, heapUsed: number, external: number }
    } catch {
      continue // not written yet, or half written
    }
    if (report.at >= asked) return { rss: rssBytes(pid), heapUsed: report.heapUsed, external: report.external }
  }
  throw new Error(`pid ${pid} did not report its memory after a GC (is bench/lib/gc-hook preloaded?)`)
}
