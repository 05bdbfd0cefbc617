// The load generator's WebSocket client. It speaks WebSocket over raw node:net sockets (its own HTTP
// upgrade, pre-built masked client frames, a parser that only counts frames and copies the first
// bytes it needs), so that on loopback the server, not the client, is the bottleneck.
import { connect as netConnect, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { CLOSE_1000, maskedFrame, OP_CLOSE, OP_PING, OP_PONG, SIO_CONNECT, SIO_PONG } from './frames.js'
import type { Target } from './types.js'

/** spread connections over several source addresses: each has its own ~28k ephemeral ports */
const SOURCE_ADDRESSES = 8
const CONNECT_CONCURRENCY = 128
export const HEAD_CAP = 160
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024)

/** receive time of the chunk being parsed, shared by every frame in it (a live binding: no call per frame) */
export let now = 0

/** Sets `now` to this moment (before sending a first batch that replies will be timed against). */
export function stampNow (): number {
  now = performance.now()
  return now
}

/** When a socket counts as open: after the 101, after Socket.IO's connect, or on its first data frame (a chat welcome). */
export type ReadyOn = 'upgrade' | 'sio-connect' | 'first-data'
export type FrameHandler = (c: Conn, head: Buffer, headLen: number, len: number) => void

/** How an echo or time socket of this target becomes ready. */
export const readyOnOpen = (target: Target): ReadyOn => target.proto === 'sio' ? 'sio-connect' : 'upgrade'

export class Conn {
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

export function wsPath (target: Target, kind: 'echo' | 'time' | 'chat', room = '', name = ''): string {
  if (target.proto === 'sio') {
    const q = kind === 'chat' ? `&mode=chat&room=${room}&name=${name}` : `&mode=${kind}`
    return `/socket.io/?EIO=4&transport=websocket${q}`
  }
  return kind === 'chat' ? `/ws/chat/${room}?name=${name}` : `/ws/${kind}`
}

let connIndex = 0

/** One socket, its source address chosen in turn. */
export function openOne (target: Target, path: string, readyOn: ReadyOn, deflate = false): Conn {
  return new Conn(target, connIndex++, path, readyOn, deflate)
}

/**
 * Opens `n` sockets, at most CONNECT_CONCURRENCY upgrades at a time, each ready per `readyOn`.
 * Resolves when all are ready, failed, or the deadline passed.
 */
export async function openMany (target: Target, n: number, path: (i: number) => string, readyOn: ReadyOn,
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
        const c = openOne(target, path(i), readyOn, deflate)
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

export function closeAll (conns: Conn[]): void {
  for (const c of conns) {
    c.onData = null
    c.afterChunk = null
    c.onGone = null
    c.close()
  }
}

/** Waits until `cond` holds or `ms` pass; true when it held. */
export async function until (cond: () => boolean, ms: number, step = 20): Promise<boolean> {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) return false
    await sleep(step)
  }
  return true
}
