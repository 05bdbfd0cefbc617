// Fan-out: one chat room filled step by step (the fill's CPU per join includes presence); at each size
// one message in flight (latency until the last member has it), then a flood that keeps a window of
// messages outstanding (throughput and CPU per delivery). With `hubRooms`, the members are /ws/hub sockets,
// each subscribed to that many rooms (the published one, and rooms it shares with its group of 20), and the
// sender publishes by frame: the same windows for a socket that is in many rooms.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { closeAll, type Conn, type FrameHandler, now, openMany, until, wsPath } from '../lib/client.js'
import { maskedFrame, OP_TEXT } from '../lib/frames.js'
import { Meter, Samples } from '../lib/stats.js'
import type { Target, Task, Window } from '../lib/types.js'

const MSG_TAG = Buffer.from('"type":"message"')
const SIO_MSG_TAG = Buffer.from('42["message"')
const SUBSCRIBED_TAG = Buffer.from('"type":"subscribed"')
/** hub members share their other rooms in groups of this many, so that presence in them stays small */
const HUB_GROUP = 20

/** One buffer with a hub socket's subscribe frames: `room` first, then its group's other rooms. */
function subscribeFrames (room: string, index: number, rooms: number): Buffer {
  const frames: Buffer[] = []
  for (let k = 0; k < rooms; k++) {
    const name = k === 0 ? room : `${room}-g${Math.floor(index / HUB_GROUP)}-${k}`
    frames.push(maskedFrame(OP_TEXT, Buffer.from(JSON.stringify({ type: 'subscribe', ref: k + 1, room: name }))))
  }
  return Buffer.concat(frames)
}

export async function fanoutTask (target: Target, t: Extract<Task, { kind: 'fanout' }>): Promise<Window[]> {
  const windows: Window[] = []
  const room = `bench-${randomBytes(3).toString('hex')}`
  const sio = target.proto === 'sio'
  const hubRooms = t.hubRooms ?? 0
  const prefix = hubRooms > 0 ? 'hub ' : ''
  const tag = sio ? SIO_MSG_TAG : MSG_TAG
  const headWant = sio ? SIO_MSG_TAG.length : 32
  // ring of per-message delivery counts and send times: message k is complete when every member has it
  const RING = 1 << 14
  const sentAt = new Float64Array(RING)
  const got = new Uint32Array(RING)
  let members = 0
  let completed = 0
  let deliveries = 0
  let presence = 0
  let samples = new Samples()
  const onData: FrameHandler = (c, head, headLen) => {
    const h = head.subarray(0, headLen)
    if (h.indexOf(tag) < 0) {
      // the hub's subscribed replies are counted per socket (in `owed` while the room fills)
      if (hubRooms > 0 && h.indexOf(SUBSCRIBED_TAG) >= 0) c.owed++
      else presence++
      return
    }
    deliveries++
    const k = c.count++ & (RING - 1)
    const n = got[k]! + 1
    got[k] = n
    if (n === members) {
      got[k] = 0
      completed++
      samples.add(now - sentAt[k]!)
      if (afterComplete !== null) afterComplete()
    }
  }
  let afterComplete: (() => void) | null = null
  const setup = (c: Conn) => {
    c.headWant = headWant
    c.onData = onData
  }
  const conns: Conn[] = []
  let sent = 0
  const sendOne = (sender: Conn) => {
    const text = `m${sent} ${'x'.repeat(40)}`
    sentAt[sent & (RING - 1)] = performance.now()
    sent++
    sender.write(maskedFrame(OP_TEXT, Buffer.from(sio
      ? `42["message",{"text":"${text}"}]`
      : hubRooms > 0
        ? `{"type":"publish","ref":${sent},"room":"${room}","text":"${text}"}`
        : `{"type":"message","text":"${text}"}`)))
  }
  const settle = async () => {
    await until(() => completed === sent, 10_000)
  }
  for (const size of t.sizes) {
    // fill the room up to `size`: the cost of joining as the room grows (presence included)
    const fillMeter = new Meter(target.serverPid)
    const presence0 = presence
    const start = conns.length
    const fillDeadline = performance.now() + t.fillTimeoutMs
    const opened = hubRooms > 0
      ? await openMany(target, size - start, (i) => `/ws/hub?name=u${start + i}`, 'upgrade', fillDeadline, setup)
      : await openMany(target, size - start, (i) => wsPath(target, 'chat', room, `u${start + i}`), 'first-data', fillDeadline, setup)
    const added = opened.conns
    const statuses = opened.statuses
    conns.push(...added)
    if (hubRooms > 0) {
      for (let i = 0; i < added.length; i++) added[i]!.write(subscribeFrames(room, start + i, hubRooms))
      await until(() => added.every((c) => c.closed || c.owed >= hubRooms), Math.max(0, fillDeadline - performance.now()))
    }
    // joins still waiting for their welcome (or a hub socket for a subscribed) at the deadline did not make it either
    const failed = size - start - added.filter((c) => c.ready && (hubRooms === 0 || c.owed >= hubRooms)).length
    // wait until the presence storm for the joins has been delivered, inside the fill budget
    let quiet = presence
    await until(() => { const q = presence === quiet; quiet = presence; return q }, Math.max(0, fillDeadline - performance.now()), 200)
    const fill = fillMeter.finish(`${prefix}fill ${start}->${size}`, 'join', size - start - failed, undefined,
      { presenceFrames: presence - presence0, members: size, ...(hubRooms > 0 ? { roomsPerMember: hubRooms } : {}) })
    if (failed > 0) {
      const refused = Object.keys(statuses).length > 0 ? `, HTTP statuses ${JSON.stringify(statuses)}` : ''
      fill.error = `${failed} of ${size - start} joins not done within the fill budget of ${t.fillTimeoutMs} ms${refused}`
    }
    windows.push(fill)
    if (failed > 0) break
    members = size
    for (const c of conns) c.count = 0
    got.fill(0)
    sent = 0
    completed = 0
    const sender = conns[0]!

    // one message in flight: latency until the last member has it, CPU per delivery
    samples = new Samples()
    deliveries = 0
    let one = true
    afterComplete = () => { if (one) sendOne(sender) }
    let meter = new Meter(target.serverPid, () => deliveries, samples)
    sendOne(sender)
    await sleep(t.oneMs)
    one = false
    let w = meter.finish(`${prefix}fanout ${size} one`, 'delivery', deliveries, samples, { members: size, messages: completed })
    windows.push(w)
    await settle()

    // flood: the sender keeps a window of messages outstanding; throughput and CPU per delivery
    const inFlight = Math.max(4, Math.ceil(20_000 / size))
    samples = new Samples()
    deliveries = 0
    const c0 = completed
    let flooding = true
    const top = () => {
      if (!flooding) return
      // sendOne advances `sent`
      for (let room = inFlight - (sent - completed); room > 0; room--) sendOne(sender)
    }
    afterComplete = top
    meter = new Meter(target.serverPid, () => deliveries, samples)
    top()
    await sleep(t.floodMs)
    flooding = false
    w = meter.finish(`${prefix}fanout ${size} flood`, 'delivery', deliveries, samples, { members: size, messages: completed - c0, window: inFlight })
    windows.push(w)
    afterComplete = null
    if (!await until(() => completed === sent, 15_000)) w.error = `${sent - completed} messages never reached every member`
    const dropped = conns.filter((c) => c.closed).length
    if (dropped > 0) { w.error = `${dropped} members closed`; break }
  }
  closeAll(conns)
  await sleep(300)
  return windows
}
