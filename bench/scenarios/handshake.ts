// Handshakes: `concurrency` loops, each opening a socket and closing it as soon as it is ready;
// handshakes per second, server CPU per handshake, and time to ready.
import { setTimeout as sleep } from 'node:timers/promises'
import { openOne, readyOnOpen, wsPath } from '../lib/client.js'
import { Meter, Samples } from '../lib/stats.js'
import type { Target, Task, Window } from '../lib/types.js'

export async function handshakeTask (target: Target, t: Extract<Task, { kind: 'handshake' }>): Promise<Window[]> {
  const readyOn = readyOnOpen(target)
  const samples = new Samples()
  let done = 0
  let failed = 0
  const end = performance.now() + t.durationMs
  const meter = new Meter(target.serverPid)
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now()
      const ok = await new Promise<boolean>((resolve) => {
        const c = openOne(target, wsPath(target, 'echo'), readyOn)
        const timer = setTimeout(() => { c.sock.destroy(); resolve(false) }, 5000)
        c.onReady = () => {
          samples.add(performance.now() - t0)
          c.onGone = () => { clearTimeout(timer); resolve(true) }
          c.close()
        }
        c.onGone = () => { clearTimeout(timer); resolve(false) }
      })
      if (ok) done++
      else failed++
    }
  }
  await Promise.all(Array.from({ length: t.concurrency }, worker))
  const w = meter.finish('handshakes', 'handshake', done, samples, { concurrency: t.concurrency, failed })
  if (failed > 0) w.error = `${failed} handshakes failed`
  await sleep(300)
  return [w]
}
