// Cross-instance traffic: rooms whose receivers sit on one instance and whose publisher sits on another (or
// the same), all instances sharing one Redis. Counts deliveries per instance, times each delivery from its
// send, and reads every instance's CPU, so that a receiving instance's cost per delivery and an instance's
// cost for rooms it does not serve can be told apart.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAll, type Conn, type FrameHandler, now, openMany, until, wsPath } from '../lib/client.js'
import { maskedFrame, OP_TEXT } from '../lib/frames.js'
import { cpuSeconds } from '../lib/proc.js'
import { Meter, round, Samples } from '../lib/stats.js'
import type { CrossTask, Target, Window } from '../lib/types.js'

const MSG_TAG = Buffer.from('"type":"message"')
const SIO_MSG_TAG = Buffer.from('42["message"')
/** per room: send times of the last RING messages (a window never gets near it) */
const RING = 1 << 12

interface Room {
  name: string
  publisher: Conn | null
  sentAt: Float64Array
  got: Uint32Array
  sent: number
  completed: number
}

export async function crossTask (base: Target, t: CrossTask): Promise<Window[]> {
  const sio = base.proto === 'sio'
  const tag = sio ? SIO_MSG_TAG : MSG_TAG
  const targets: Target[] = t.instances.map((i) => ({ ...base, port: i.port, serverPid: i.pid }))
  const text = 'x'.repeat(48)
  const frame = maskedFrame(OP_TEXT, Buffer.from(sio ? `42["message",{"text":"${text}"}]` : `{"type":"message","text":"${text}"}`))
  const prefix = `x${randomBytes(3).toString('hex')}-`
  const rooms: Room[] = t.recvAt.map((_, r) => ({
    name: `${prefix}${r}`, publisher: null, sentAt: new Float64Array(RING), got: new Uint32Array(RING), sent: 0, completed: 0
  }))
  const perInstance = new Float64Array(t.instances.length)
  let deliveries = 0
  let completed = 0
  let samples = new Samples()
  let flooding = false
  const send = (room: Room) => {
    room.sentAt[room.sent & (RING - 1)] = performance.now()
    room.sent++
    room.publisher!.write(frame)
  }
  const receiver = (room: Room, inst: number): FrameHandler => (c, head, headLen) => {
    if (head.subarray(0, headLen).indexOf(tag) < 0) return // presence
    deliveries++
    perInstance[inst]!++
    const k = c.count++ & (RING - 1)
    samples.add(now - room.sentAt[k]!)
    const n = room.got[k]! + 1
    room.got[k] = n
    if (n === t.receivers) {
      room.got[k] = 0
      room.completed++
      completed++
      if (flooding && t.rate === undefined) send(room)
    }
  }

  const conns: Conn[] = []
  const deadline = performance.now() + 30_000
  for (const [r, room] of rooms.entries()) {
    const inst = t.recvAt[r]!
    const target = targets[inst]!
    const onData = receiver(room, inst)
    const opened = await openMany(target, t.receivers, (i) => wsPath(target, 'chat', room.name, `r${i}`), 'first-data', deadline, (c) => {
      c.headWant = tag.length + 2
      c.onData = onData
    })
    conns.push(...opened.conns)
    if (opened.failed > 0 || opened.conns.length < t.receivers) throw new Error(`room ${r}: ${opened.failed} receivers not joined`)
    const pubTarget = targets[t.pubAt[r]!]!
    const pub = await openMany(pubTarget, 1, () => wsPath(pubTarget, 'chat', room.name, 'pub'), 'first-data', deadline)
    if (pub.failed > 0 || pub.conns[0] === undefined) throw new Error(`room ${r}: publisher not joined`)
    room.publisher = pub.conns[0]
    conns.push(room.publisher)
  }
  await sleep(300) // the joins' presence events

  // a paced run sends `rate` messages per second in all, round robin over the rooms, each room at most
  // `window` ahead of its slowest receiver; a flood keeps `window` outstanding per room
  let pacer: NodeJS.Timeout | undefined
  let skipped = 0
  flooding = true
  if (t.rate === undefined) {
    for (const room of rooms) for (let i = 0; i < t.window; i++) send(room)
  } else {
    const rate = t.rate
    let owed = 0
    let next = 0
    let last = performance.now()
    pacer = setInterval(() => {
      const at = performance.now()
      owed += (at - last) * rate / 1000
      last = at
      for (; owed >= 1; owed--) {
        const room = rooms[next++ % rooms.length]!
        if (room.sent - room.completed >= t.window) { skipped++; continue }
        send(room)
      }
    }, 5)
  }
  await sleep(t.warmupMs)
  samples = new Samples()
  deliveries = 0
  completed = 0
  skipped = 0
  perInstance.fill(0)
  const cpu0 = t.instances.map((i) => cpuSeconds(i.pid))
  const t0 = performance.now()
  const meter = new Meter(targets[t.recvAt[0]!]!.serverPid, () => deliveries, samples)
  await sleep(t.durationMs)
  const seconds = (performance.now() - t0) / 1000
  const cpu = t.instances.map((i, n) => cpuSeconds(i.pid) - cpu0[n]!)
  const messages = completed
  const main = meter.finish(t.label, 'delivery', deliveries, samples, {
    messages,
    msgRate: round(messages / seconds, 1),
    rooms: rooms.length,
    receivers: t.receivers,
    instances: t.instances.length,
    ...(t.rate !== undefined ? { targetRate: t.rate, skipped } : { window: t.window })
  })
  flooding = false
  clearInterval(pacer)
  const windows: Window[] = [main]
  for (const [n, inst] of t.instances.entries()) {
    const got = perInstance[n]!
    // an instance with no receivers is charged per message of the run: what rooms it does not deliver cost it
    const count = got > 0 ? got : messages
    windows.push({
      label: `${t.label} #${n}`,
      unit: got > 0 ? 'delivery' : 'message',
      count,
      seconds: round(seconds, 3),
      rate: round(count / seconds, 1),
      serverCpuSec: round(cpu[n]!, 3),
      serverCpuUs: count > 0 ? round(cpu[n]! * 1e6 / count, 3) : 0,
      serverRssBytes: 0,
      loadgenCpu: main.loadgenCpu,
      otherCpu: main.otherCpu ?? 0,
      extra: { cores: round(cpu[n]! / seconds, 3), pid: inst.pid, receivers: got > 0 ? 'yes' : 'none' }
    })
  }
  let missing = 0
  await until(() => {
    missing = 0
    for (const room of rooms) missing += room.sent - room.completed
    return missing === 0
  }, 10_000)
  if (missing > 0) main.error = `${missing} messages never reached every receiver`
  closeAll(conns)
  await sleep(300)
  return windows
}
