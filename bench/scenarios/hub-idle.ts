// Hub idle memory: `sockets` idle /ws/hub sockets, read after a full GC (as in idle.ts) before they open,
// once each is subscribed to one room, and again once each is subscribed to `rooms`. Socket i's rooms are
// h<i> ... h<i+rooms-1> (mod sockets): every room exists from the first reading on, so the second one adds
// subscriptions only (each room ends with `rooms` members), and the cost of one subscription is
// (held with `rooms` - held with 1) / (rooms - 1) per socket.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAll, type Conn, openMany, until } from '../lib/client.js'
import { maskedFrame, OP_TEXT } from '../lib/frames.js'
import { type Collected, collected } from '../lib/proc.js'
import { Meter } from '../lib/stats.js'
import type { Target, Task, Window } from '../lib/types.js'
import { churn, memoryPerSocket } from './idle.js'

const SUBSCRIBED_TAG = Buffer.from('"type":"subscribed"')

export async function hubIdleTask (target: Target, t: Extract<Task, { kind: 'hub-idle' }>): Promise<Window[]> {
  const tag = randomBytes(3).toString('hex')
  const roomOf = (i: number) => `h${tag}-${i % t.sockets}`
  // subscribed replies per socket in `owed`; presence (join) frames are read and dropped
  const setup = (c: Conn) => {
    c.headWant = 32
    c.onData = (cc, head, headLen) => { if (head.subarray(0, headLen).indexOf(SUBSCRIBED_TAG) >= 0) cc.owed++ }
  }
  const subscribe = async (conns: Conn[], from: number, to: number): Promise<void> => {
    for (let i = 0; i < conns.length; i++) {
      const frames: Buffer[] = []
      for (let k = from; k < to; k++) frames.push(maskedFrame(OP_TEXT, Buffer.from(`{"type":"subscribe","ref":${k},"room":"${roomOf(i + k)}"}`)))
      conns[i]!.write(Buffer.concat(frames))
    }
    if (!await until(() => conns.every((c) => c.owed >= to), 60_000)) {
      throw new Error(`hub idle: ${conns.filter((c) => c.owed < to).length} sockets short of ${to} subscriptions`)
    }
  }
  const reading = async (): Promise<Collected> => {
    // presence frames drained, the young generation used end to end, then the full GC's reading
    await sleep(t.settleMs)
    await churn(target, 64)
    await sleep(t.settleMs / 2)
    return await collected(target.serverPid, target.memDir)
  }
  await churn(target, 64)
  await sleep(t.settleMs / 2)
  const m0 = await collected(target.serverPid, target.memDir)
  const meter = new Meter(target.serverPid)
  const { conns, failed, statuses } = await openMany(target, t.sockets, (i) => `/ws/hub?name=u${i}`, 'upgrade', performance.now() + 60_000, setup)
  if (failed > 0) throw new Error(`hub idle: ${failed} sockets failed ${JSON.stringify(statuses)}`)
  await subscribe(conns, 0, 1)
  const w1 = meter.finish(`hub idle ${t.sockets} sockets, 1 room`, 'socket', t.sockets, undefined, {})
  const m1 = await reading()
  const meter20 = new Meter(target.serverPid)
  await subscribe(conns, 1, t.rooms)
  const w20 = meter20.finish(`hub idle ${t.sockets} sockets, ${t.rooms} rooms`, 'subscription', t.sockets * (t.rooms - 1), undefined, {})
  const m20 = await reading()
  const held = (m: Collected) => m.heapUsed + m.external
  const perSocket = (m: Collected) => memoryPerSocket(m0, m, t.sockets)
  w1.extra = perSocket(m1)
  w1.rate = 0
  w20.extra = {
    ...perSocket(m20),
    rooms: t.rooms,
    heldBytesPerSubscription: Math.round((held(m20) - held(m1)) / (t.sockets * (t.rooms - 1))),
    heapBytesPerSubscription: Math.round((m20.heapUsed - m1.heapUsed) / (t.sockets * (t.rooms - 1)))
  }
  w20.rate = 0
  closeAll(conns)
  await sleep(500)
  return [w1, w20]
}
