// Hold: `sockets` sockets kept open through several heartbeat rounds; how many opened, were dropped,
// and answered pings.
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAll, openMany, wsPath } from '../lib/client.js'
import { Meter } from '../lib/stats.js'
import type { Target, Task, Window } from '../lib/types.js'

export async function holdTask (target: Target, t: Extract<Task, { kind: 'hold' }>): Promise<Window[]> {
  const meter = new Meter(target.serverPid)
  const { conns, failed, statuses } = await openMany(target, t.sockets, () => wsPath(target, 'echo'), 'upgrade', performance.now() + 90_000)
  const opened = conns.length - failed
  await sleep(t.holdMs)
  let pings = 0
  for (const c of conns) pings += c.pings
  const dropped = conns.filter((c) => c.ready && c.closed).length
  const w = meter.finish(`hold ${t.sockets} sockets`, 'socket', opened, undefined,
    { opened, failed, dropped, pingsAnswered: pings, holdMs: t.holdMs })
  w.rate = 0
  if (failed > 0 || dropped > 0) w.error = `${failed} failed to open ${JSON.stringify(statuses)}, ${dropped} dropped`
  closeAll(conns)
  await sleep(500)
  return [w]
}
