// The bench's load generator: a child process of bench/run.ts that takes one task at a time over
// IPC. It speaks WebSocket over raw node:net sockets (its own HTTP upgrade, pre-built masked
// client frames, a parser that only counts frames and copies the first bytes it needs), so that
// on loopback the server, not the client, is the bottleneck. Every loop is bounded in count and time.
import { randomBytes } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { constants as zlib, deflateRawSync } from 'node:zlib'
import { type Collected, collected, cpuSeconds, machineBusySeconds, rssBytes } from './lib/proc.js'
import type { Reply, Request, Target, Task, Window } from './lib/types.js'

// one random mask key for every frame: still masked as RFC 6455 wants, and pre-building stays cheap
const MASK = randomBytes(4)
if ((MASK[0]! | MASK[1]! | MASK[2]! | MASK[3]!) === 0) MASK[0] = 1
/** spread connections over several source addresses: each has its own ~28k ephemeral ports */
const SOURCE_ADDRESSES = 8
const CONNECT_CONCURRENCY = 128
const HEAD_CAP = 160
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)
/** hard cap on latency samples kept per window (then every other one is dropped) */
const SAMPLE_CAP = 1 << 19
const SLICE_CAP = 1 << 16

const OP_TEXT = 1
const OP_CLOSE = 8
const OP_PING = 9
const OP_PONG = 10

export function maskedFrame (opcode: number, payload: Buffer, rsv1 = false): Buffer {
  const len = payload.length
  const hl = len < 126 ? 2 : len < 65536 ? 4 : 10
  const out = Buffer.allocUnsafe(hl + 4 + len)
  out[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode
  if (len < 126) {
    out[1] = 0x80 | len
  } else if (len < 65536) {
    out[1] = 0x80 | 126
    out.writeUInt16BE(len, 2)
  } else {
    out[1] = 0x80 | 127
    out.writeUInt32BE(0, 2)
    out.writeUInt32BE(len, 6)
  }
  MASK.copy(out, hl)
  const p = hl + 4
  for (let i = 0; i < len; i++) out[p + i] = payload[i]! ^ MASK[i & 3]!
  return out
}

/**
 * A compressed (RSV1) text frame as a permessage-deflate client sends it: raw deflate, sync-flushed,
 * without the trailing 00 00 ff ff. Made by a fresh compressor, so it refers to nothing before it
 * and can be sent again and again, with or without context takeover.
 */
export function deflatedFrame (payload: Buffer): Buffer {
  const z = deflateRawSync(payload, { finishFlush: zlib.Z_SYNC_FLUSH })
  return maskedFrame(OP_TEXT, z.subarray(0, z.length - 4), true)
}

const SIO_PONG = maskedFrame(OP_TEXT, Buffer.from('3'))
const SIO_CONNECT = maskedFrame(OP_TEXT, Buffer.from('40'))
const CLOSE_1000 = maskedFrame(OP_CLOSE, Buffer.from([0x03, 0xe8]))

/** receive time of the chunk being parsed, shared by every frame in it */
let now = 0

type ReadyOn = 'upgrade' | 'sio-connect' | 'first-data'
type FrameHandler = (c: Conn, head: Buffer, headLen: number, len: number) => void

class Conn {
  readonly sock: Socket
  upgraded = false
  ready = false
  closed = false
  closedByServer = false
  status = 0
  /** the 101 accepted permessage-deflate */
  deflated = false
  pings = 0
  private hs: Buffer | null = null
  private stash: Buffer | null = null
  private skip = 0
  private frameLen = 0
  private opcode = 0
  private readonly head = Buffer.allocUnsafe(HEAD_CAP)
  private headLen = 0
  private headNeed = 0
  /** how many first payload bytes of a data frame the handler wants (Engine.IO needs its packet type) */
  headWant: number
  onData: FrameHandler | null = null
  /** called once after each received chunk: the place to batch writes */
  afterChunk: ((c: Conn) => void) | null = null
  onReady: ((c: Conn) => void) | null = null
  onGone: ((c: Conn) => void) | null = null
  // per-task state
  owed = 0
  ring: Float64Array | null = null
  rHead = 0
  rTail = 0
  count = 0

  constructor (readonly target: Target, readonly index: number, path: string, readonly readyOn: ReadyOn, deflate = false) {
    this.headWant = target.proto === 'sio' ? 2 : 0
    const local = `127.0.0.${2 + (index % SOURCE_ADDRESSES)}`
    // onread into one shared buffer: no Buffer and no 'data' event per read (the parser copies what it keeps)
    this.sock = netConnect({
      host: target.host,
      port: target.port,
      localAddress: local,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (nread: number, buf: Uint8Array) => { this.receive(buf as Buffer, nread); return true } }
    })
    this.sock.on('connect', () => {
      this.sock.write(`GET ${path} HTTP/1.1\r\nHost: ${target.host}:${target.port}\r\nUpgrade: websocket\r\n` +
        'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' +
        (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n' : '') + '\r\n')
    })
    this.sock.on('error', () => {})
    this.sock.on('close', () => {
      this.closed = true
      if (this.onGone !== null) this.onGone(this)
    })
  }

  write (buf: Buffer): void {
    if (!this.closed) this.sock.write(buf)
  }

  close (): void {
    if (this.closed) return
    if (this.upgraded) this.sock.write(CLOSE_1000)
    this.sock.end()
    // a server that never answers the close cannot keep the socket
    setTimeout(() => this.sock.destroy(), 2000).unref()
  }

  private markReady (): void {
    if (this.ready) return
    this.ready = true
    if (this.onReady !== null) this.onReady(this)
  }

  private receive (read: Buffer, nread: number): void {
    now = performance.now()
    let chunk = read.subarray(0, nread)
    if (!this.upgraded) {
      const buf = this.hs === null ? Buffer.from(chunk) : Buffer.concat([this.hs, chunk])
      const end = buf.indexOf('\r\n\r\n')
      if (end < 0) {
        this.hs = buf
        return
      }
      this.hs = null
      this.status = Number(buf.toString('latin1', 9, 12))
      if (this.status !== 101) {
        this.sock.destroy()
        return
      }
      this.upgraded = true
      this.deflated = /^sec-websocket-extensions:\s*permessage-deflate/im.test(buf.toString('latin1', 0, end))
      if (this.readyOn === 'upgrade') this.markReady()
      if (buf.length === end + 4) return
      chunk = buf.subarray(end + 4)
    }
    this.parse(chunk)
    if (this.afterChunk !== null) this.afterChunk(this)
  }

  private parse (chunk: Buffer): void {
    let data = chunk
    if (this.stash !== null) {
      data = Buffer.concat([this.stash, chunk])
      this.stash = null
    }
    const n = data.length
    let i = 0
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i)
        if (this.headNeed > this.headLen) {
          const c = Math.min(this.headNeed - this.headLen, take)
          data.copy(this.head, this.headLen, i, i + c)
          this.headLen += c
        }
        i += take
        this.skip -= take
        if (this.skip === 0) this.frameDone()
        continue
      }
      if (n - i < 2) {
        this.stash = Buffer.from(data.subarray(i))
        return
      }
      const b0 = data[i]!
      const b1 = data[i + 1]!
      let len = b1 & 0x7f
      let hl = 2
      if (len === 126) {
        if (n - i < 4) { this.stash = Buffer.from(data.subarray(i)); return }
        len = data.readUInt16BE(i + 2)
        hl = 4
      } else if (len === 127) {
        if (n - i < 10) { this.stash = Buffer.from(data.subarray(i)); return }
        len = data.readUInt32BE(i + 2) * 4294967296 + data.readUInt32BE(i + 6)
        hl = 10
      }
      i += hl
      this.opcode = b0 & 0x0f
      this.frameLen = len
      this.skip = len
      this.headLen = 0
      this.headNeed = this.opcode >= 8 ? Math.min(len, HEAD_CAP) : Math.min(len, this.headWant)
      if (len === 0) this.frameDone()
    }
  }

  private frameDone (): void {
    const op = this.opcode
    const head = this.head
    if (op >= 8) {
      if (op === OP_PING) {
        this.pings++
        this.write(maskedFrame(OP_PONG, head.subarray(0, this.headLen)))
      } else if (op === OP_CLOSE) {
        this.closedByServer = true
        this.close()
      }
      return
    }
    if (this.target.proto === 'sio') {
      // Engine.IO: "2" ping -> "3" pong; "0{...}" open -> "40" connect; "40{...}" connected; "42[...]" event
      const t = head[0]
      if (t === 0x32 && this.frameLen === 1) { this.write(SIO_PONG); return }
      if (t === 0x30) { this.write(SIO_CONNECT); return }
      if (t !== 0x34) return
      if (head[1] === 0x30) { if (this.readyOn === 'sio-connect') this.markReady(); return }
    }
    if (!this.ready) {
      if (this.readyOn === 'first-data') this.markReady()
      return
    }
    if (this.onData !== null) this.onData(this, head, this.headLen, this.frameLen)
  }
}

/** Latency samples of one window, bounded in memory, with per-slice percentiles on the side. */
class Samples {
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

function round (v: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Server CPU, server RSS and our own CPU across one measured window. With a counter it also
 * takes 250 ms slices and reports the median slice's rate and CPU per unit, so that one burst of
 * noise from the rest of a shared machine does not decide the result.
 */
class Meter {
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

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function wsPath (target: Target, kind: 'echo' | 'time' | 'chat', room = '', name = ''): string {
  if (target.proto === 'sio') {
    const q = kind === 'chat' ? `&mode=chat&room=${room}&name=${name}` : `&mode=${kind}`
    return `/socket.io/?EIO=4&transport=websocket${q}`
  }
  return kind === 'chat' ? `/ws/chat/${room}?name=${name}` : `/ws/${kind}`
}

let connIndex = 0

/**
 * Opens `n` sockets, at most CONNECT_CONCURRENCY upgrades at a time, each ready per `readyOn`.
 * Resolves when all are ready, failed, or the deadline passed.
 */
async function openMany (target: Target, n: number, path: (i: number) => string, readyOn: ReadyOn,
  deadline: number, setup?: (c: Conn) => void, deflate = false): Promise<{ conns: Conn[], failed: number, statuses: Record<string, number> }> {
  const conns: Conn[] = []
  let failed = 0
  const statuses: Record<string, number> = {}
  let next = 0
  await new Promise<void>((resolve) => {
    let active = 0
    let done = 0
    const finish = () => {
      if (done === n) resolve()
    }
    const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()))
    const launch = () => {
      while (active < CONNECT_CONCURRENCY && next < n && performance.now() < deadline) {
        const i = next++
        active++
        const c = new Conn(target, connIndex++, path(i), readyOn, deflate)
        setup?.(c)
        conns.push(c)
        let settled = false
        const settle = (ok: boolean) => {
          if (settled) return
          settled = true
          active--
          done++
          if (!ok) {
            failed++
            statuses[String(c.status)] = (statuses[String(c.status)] ?? 0) + 1
          }
          if (done === n) { clearTimeout(timer); finish() } else launch()
        }
        const prevReady = c.onReady
        c.onReady = (cc) => { prevReady?.(cc); settle(true) }
        c.onGone = () => settle(false)
      }
    }
    if (n === 0) { clearTimeout(timer); resolve(); return }
    launch()
  })
  return { conns, failed, statuses }
}

function closeAll (conns: Conn[]): void {
  for (const c of conns) {
    c.onData = null
    c.afterChunk = null
    c.onGone = null
    c.close()
  }
}

/** Waits until `cond` holds or `ms` pass; true when it held. */
async function until (cond: () => boolean, ms: number, step = 20): Promise<boolean> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) return false
    await sleep(step)
  }
  return true
}

// ---------------------------------------------------------------------------------------------

/** A readable, somewhat compressible ASCII body of exactly `size` bytes. */
function body (size: number): string {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima']
  let s = ''
  let x = 7
  while (s.length < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    s += words[x % words.length]! + ' '
  }
  return s.slice(0, size)
}

async function echoTask (target: Target, t: Extract<Task, { kind: 'echo' }>): Promise<Window[]> {
  const payload = body(t.size)
  // with deflate the client compresses as a real one would: the server inflates and deflates every message
  const one = target.proto === 'sio'
    ? maskedFrame(OP_TEXT, Buffer.from(`42["echo","${payload}"]`))
    : t.deflate === true ? deflatedFrame(Buffer.from(payload)) : maskedFrame(OP_TEXT, Buffer.from(payload))
  const batch = Buffer.concat(Array.from({ length: t.inflight }, () => one))
  const frameLen = one.length
  const samples = new Samples()
  let measuring = false
  let sending = true
  let total = 0
  const readyOn: ReadyOn = target.proto === 'sio' ? 'sio-connect' : 'upgrade'
  const setup = (c: Conn) => {
    c.ring = new Float64Array(t.inflight)
    // echo keeps order per socket, so the oldest send time in the ring is this reply's
    c.onData = (cc, head, headLen) => {
      if (target.proto === 'sio' && (headLen < 2 || head[1] !== 0x32)) return
      const sent = cc.ring![cc.rTail]!
      cc.rTail = (cc.rTail + 1) % t.inflight
      if (measuring) {
        samples.add(now - sent)
        total++
      }
      cc.owed++
    }
    c.afterChunk = (cc) => {
      const owed = cc.owed
      if (owed === 0 || !sending) return
      cc.owed = 0
      cc.write(owed === t.inflight ? batch : batch.subarray(0, owed * frameLen))
      for (let k = 0; k < owed; k++) {
        cc.ring![cc.rHead] = now
        cc.rHead = (cc.rHead + 1) % t.inflight
      }
    }
  }
  const deadline = performance.now() + 30_000
  const { conns, failed, statuses } = await openMany(target, t.sockets, () => wsPath(target, 'echo'), readyOn, deadline, setup, t.deflate === true)
  if (failed > 0) throw new Error(`echo: ${failed} of ${t.sockets} sockets failed to open ${JSON.stringify(statuses)}`)
  if (t.deflate === true && conns.some((c) => !c.deflated)) throw new Error('echo: permessage-deflate was not negotiated')
  now = performance.now()
  for (const c of conns) {
    c.write(batch)
    for (let k = 0; k < t.inflight; k++) c.ring![k] = now
  }
  await sleep(t.warmupMs)
  measuring = true
  const meter = new Meter(target.serverPid, () => total, samples)
  await sleep(t.durationMs)
  const w = meter.finish(`echo ${t.sockets}x${t.size}B${t.deflate === true ? ' deflate' : ''}`, 'msg', total, samples,
    { sockets: t.sockets, size: t.size, inflight: t.inflight })
  measuring = false
  sending = false
  const dropped = conns.filter((c) => c.closed).length
  if (dropped > 0) w.error = `${dropped} sockets closed during the run`
  closeAll(conns)
  await sleep(200)
  return [w]
}

const MSG_TAG = Buffer.from('"type":"message"')
const SIO_MSG_TAG = Buffer.from('42["message"')

async function fanoutTask (target: Target, t: Extract<Task, { kind: 'fanout' }>): Promise<Window[]> {
  const windows: Window[] = []
  const room = `bench-${randomBytes(3).toString('hex')}`
  const sio = target.proto === 'sio'
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
    if (head.subarray(0, headLen).indexOf(tag) < 0) {
      presence++
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
    const opened = await openMany(target, size - start,
      (i) => wsPath(target, 'chat', room, `u${start + i}`), 'first-data', fillDeadline, setup)
    const added = opened.conns
    const statuses = opened.statuses
    conns.push(...added)
    // joins still waiting for their welcome at the deadline did not make it either
    const failed = size - start - added.filter((c) => c.ready).length
    // wait until the presence storm for the joins has been delivered, inside the fill budget
    let quiet = presence
    await until(() => { const q = presence === quiet; quiet = presence; return q }, Math.max(0, fillDeadline - performance.now()), 200)
    const fill = fillMeter.finish(`fill ${start}->${size}`, 'join', size - start - failed, undefined,
      { presenceFrames: presence - presence0, members: size })
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
    let w = meter.finish(`fanout ${size} one`, 'delivery', deliveries, samples, { members: size, messages: completed })
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
    w = meter.finish(`fanout ${size} flood`, 'delivery', deliveries, samples, { members: size, messages: completed - c0, window: inFlight })
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

async function timeTask (target: Target, t: Extract<Task, { kind: 'time' }>): Promise<Window[]> {
  const sio = target.proto === 'sio'
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
  const readyOn: ReadyOn = sio ? 'sio-connect' : 'upgrade'
  const { conns, failed, statuses } = await openMany(target, t.sockets, () => wsPath(target, 'time'), readyOn, performance.now() + 60_000, setup)
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

/**
 * Pushes about `mb` megabytes of 16 KB echoes through four sockets and waits until all are back.
 * The server then has allocated as under load: its young generation is touched end to end, and what
 * survived was scavenged into the old one. Run before the idle baseline and again before the idle
 * reading, so that the RSS difference is what the sockets hold, not where the GC happened to stand
 * (without it, the same server read 4.2 and 6.8 KB per socket in two runs).
 */
async function churn (target: Target, mb: number): Promise<void> {
  const size = 16384
  const payload = body(size)
  const sio = target.proto === 'sio'
  const one = maskedFrame(OP_TEXT, Buffer.from(sio ? `42["echo","${payload}"]` : payload))
  const sockets = 4
  const inflight = 4
  const perSocket = Math.ceil(mb * 1024 * 1024 / size / sockets)
  let back = 0
  const setup = (c: Conn) => {
    c.onData = (cc, head, headLen) => {
      if (sio && (headLen < 2 || head[1] !== 0x32)) return
      back++
      cc.owed++
    }
    c.afterChunk = (cc) => {
      while (cc.owed > 0 && cc.count < perSocket) {
        cc.owed--
        cc.count++
        cc.write(one)
      }
    }
  }
  const readyOn: ReadyOn = sio ? 'sio-connect' : 'upgrade'
  const { conns, failed } = await openMany(target, sockets, () => wsPath(target, 'echo'), readyOn, performance.now() + 10_000, setup)
  if (failed > 0) throw new Error(`churn: ${failed} of ${sockets} sockets failed to open`)
  for (const c of conns) {
    for (let k = 0; k < inflight; k++) c.write(one)
    c.count = inflight
  }
  const all = await until(() => back >= conns.length * perSocket, 20_000)
  closeAll(conns)
  if (!all) throw new Error(`churn: ${back} of ${conns.length * perSocket} echoes came back`)
}

async function idleTask (target: Target, t: Extract<Task, { kind: 'idle' }>): Promise<Window[]> {
  const deflate = t.deflate === true
  const suffix = deflate ? ' deflate' : ''
  // every reading is taken after a full GC, on a server whose young generation has been used end to end
  await churn(target, 64)
  await sleep(t.settleMs / 2)
  const m0 = await collected(target.serverPid, target.memDir)
  const meter = new Meter(target.serverPid)
  const readyOn: ReadyOn = target.proto === 'sio' ? 'sio-connect' : 'upgrade'
  let echoed = 0
  const setup = (c: Conn) => { c.onData = () => { echoed++ } }
  const { conns, failed, statuses } = await openMany(target, t.sockets, () => wsPath(target, 'echo'), readyOn, performance.now() + 60_000, setup, deflate)
  if (failed > 0) throw new Error(`idle: ${failed} sockets failed ${JSON.stringify(statuses)}`)
  if (deflate && conns.some((c) => !c.deflated)) throw new Error('idle: permessage-deflate was not negotiated')
  await sleep(t.settleMs)
  const w = meter.finish(`idle ${t.sockets} sockets${suffix}`, 'socket', t.sockets, undefined, {})
  await churn(target, 64)
  await sleep(t.settleMs / 2)
  const perSocket = (m: Collected) => ({
    rssBeforeBytes: m0.rss,
    rssAfterBytes: m.rss,
    bytesPerSocket: Math.round((m.rss - m0.rss) / t.sockets),
    heapBytesPerSocket: Math.round((m.heapUsed - m0.heapUsed) / t.sockets),
    externalBytesPerSocket: Math.round((m.external - m0.external) / t.sockets)
  })
  w.extra = perSocket(await collected(target.serverPid, target.memDir))
  w.rate = 0
  const windows = [w]
  if (deflate) {
    // zlib state is made on a socket's first compressed message and kept: one 2 KB message each way
    // (inflated, echoed, deflated) shows what a socket that has talked once costs
    const frame = deflatedFrame(Buffer.from(body(2048)))
    const primeMeter = new Meter(target.serverPid)
    for (const c of conns) c.write(frame)
    const all = await until(() => echoed >= t.sockets, 30_000)
    await sleep(t.settleMs)
    const p = primeMeter.finish(`idle ${t.sockets} sockets deflate, 1 msg each`, 'socket', t.sockets, undefined, {})
    p.extra = { ...perSocket(await collected(target.serverPid, target.memDir)), echoed }
    p.rate = 0
    if (!all) p.error = `${t.sockets - echoed} of ${t.sockets} messages not echoed`
    windows.push(p)
  }
  closeAll(conns)
  await sleep(500)
  return windows
}

async function handshakeTask (target: Target, t: Extract<Task, { kind: 'handshake' }>): Promise<Window[]> {
  const readyOn: ReadyOn = target.proto === 'sio' ? 'sio-connect' : 'upgrade'
  const samples = new Samples()
  let done = 0
  let failed = 0
  const end = performance.now() + t.durationMs
  const meter = new Meter(target.serverPid)
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now()
      const ok = await new Promise<boolean>((resolve) => {
        const c = new Conn(target, connIndex++, wsPath(target, 'echo'), readyOn)
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

async function holdTask (target: Target, t: Extract<Task, { kind: 'hold' }>): Promise<Window[]> {
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

async function run (req: Request): Promise<Window[]> {
  const { target, task } = req
  switch (task.kind) {
    case 'echo': return await echoTask(target, task)
    case 'fanout': return await fanoutTask(target, task)
    case 'time': return await timeTask(target, task)
    case 'idle': return await idleTask(target, task)
    case 'handshake': return await handshakeTask(target, task)
    case 'hold': return await holdTask(target, task)
  }
}

process.on('message', (msg: Request) => {
  run(msg).then((windows) => {
    const reply: Reply = { id: msg.id, windows }
    process.send?.(reply)
  }, (err: unknown) => {
    const reply: Reply = { id: msg.id, windows: [], error: err instanceof Error ? err.message : String(err) }
    process.send?.(reply)
  })
})
process.on('disconnect', () => process.exit(0))
