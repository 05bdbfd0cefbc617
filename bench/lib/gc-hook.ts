// Preloaded into every bench server (`node --expose-gc --import dist/bench/lib/gc-hook.js`), never
// into a deployed one: on SIGUSR2 it runs a full GC and writes process.memoryUsage() to
// $BENCH_MEM_DIR/<pid>.json, so the idle scenario reads memory that is held, not garbage that is
// waiting. The same hook in every server keeps the comparison fair.
import { writeFileSync } from 'node:fs'
import { getHeapSpaceStatistics } from 'node:v8'

const dir = process.env.BENCH_MEM_DIR
const gc = (globalThis as { gc?: () => void }).gc

/**
 * Allocates short-lived objects until the young generation has been used end to end (twice its
 * capacity). Without it, a server whose traffic allocated little on the JS heap (bare ws echoing
 * Buffers) had young-generation pages first touched while the sockets were opening, and they were
 * charged to the sockets: RSS that the sockets do not hold (bench/README.md, Method).
 */
function cycleYoungGeneration (): void {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 32 << 20
  // kept a moment in a ring, so that the optimiser cannot drop the allocations; ~100 B each
  const ring: number[][] = new Array<number[]>(1024)
  for (let i = 0, n = Math.ceil(2 * young / 100); i < n; i++) ring[i & 1023] = [i, i + 1, i + 2, i + 3, i + 4, i + 5]
}

if (dir !== undefined && gc !== undefined) {
  process.on('SIGUSR2', () => {
    cycleYoungGeneration()
    gc()
    gc() // the second pass frees what the first one's finalizers released
    writeFileSync(`${dir}/${process.pid}.json`, JSON.stringify({ at: Date.now(), ...process.memoryUsage() }))
  })
}
