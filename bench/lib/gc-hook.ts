// Preloaded into every bench server (`node --expose-gc --import dist/bench/lib/gc-hook.js`), never
// into a deployed one: on SIGUSR2 it runs a full GC and writes process.memoryUsage() to
// $BENCH_MEM_DIR/<pid>.json, so the idle scenario reads memory that is held, not garbage that is
// waiting. The same hook in every server keeps the comparison fair.
import { writeFileSync } from 'node:fs'

const dir = process.env.BENCH_MEM_DIR
const gc = (globalThis as { gc?: () => void }).gc
if (dir !== undefined && gc !== undefined) {
  process.on('SIGUSR2', () => {
    gc()
    gc() // the second pass frees what the first one's finalizers released
    writeFileSync(`${dir}/${process.pid}.json`, JSON.stringify({ at: Date.now(), ...process.memoryUsage() }))
  })
}
