// Time push: `sockets` sockets on the time endpoint; deliveries per second and latency from the
// tick's `epochMs` to its arrival.
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAll, type Conn, HEAD_CAP, openMany, readyOnOpen, wsPath } from '../lib/client.js'
import { Meter, Samples } from '../lib/stats.js'
import type { Target, Task, Window } from '../lib/types.js'

export async function timeTask (target: Target, t: Extract<Task, { kind: 'time' }>): Promise<Window[]> {
  const key = Buffer.from('"epochMs":')
  const samples = new Samples()
  let measuring = false
  let deliveries = 0
  const setup = (c: Conn) => {
    c.headWant = HEAD_CAP
    c.onData = (_c, head, headLen) => {
      if (!measuring) return
      const h = head.subarray(0, headLen)
      const at = h.indexOf(key)
      if (at < 0) return
      let v = 0
      for (let i = at + key.length; i < headLen; i++) {
        const d = head[i]! - 48
        if (d < 0 || d > 9) break
        v = v * 10 + d
      }
      deliveries++
      samples.add(Date.now() - v)
    }
  }
  const { conns, failed, statuses } = await openMany(target, t.sockets, () => wsPath(target, 'time'), readyOnOpen(target), performance.now() + 60_000, setup)
  if (failed > 0) throw new Error(`time: ${failed} sockets failed ${JSON.stringify(statuses)}`)
  await sleep(300)
  measuring = true
  const meter = new Meter(target.serverPid)
  await sleep(t.durationMs)
  const w = meter.finish(`time push ${t.sockets}`, 'delivery', deliveries, samples, { sockets: t.sockets })
  measuring = false
  closeAll(conns)
  await sleep(300)
  return [w]
}
