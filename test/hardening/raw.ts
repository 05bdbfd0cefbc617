// Raw WebSocket over node:net for conformance and abuse tests: builds exactly the bytes a test wants
// (bad bits, unmasked frames, absurd lengths) and parses the server's frames.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

export const OP = { cont: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const

export interface FrameSpec {
  opcode: number
  payload?: Buffer | string
  fin?: boolean
  /** RSV1-3 bits, e.g. 0x40 */
  rsv?: number
  mask?: boolean
  /** announce this length instead of the payload's (the payload is then not sent) */
  announce?: bigint
}

export function frame (spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0))
  const mask = spec.mask ?? true
  const len = spec.announce ?? BigInt(payload.length)
  const head: number[] = [((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv ?? 0) | spec.opcode]
  const m = mask ? 0x80 : 0
  let ext = Buffer.alloc(0)
  if (len < 126n) head.push(m | Number(len))
  else if (len < 65536n) { head.push(m | 126); ext = Buffer.alloc(2); ext.writeUInt16BE(Number(len)) } else { head.push(m | 127); ext = Buffer.alloc(8); ext.writeBigUInt64BE(len) }
  if (spec.announce !== undefined) return Buffer.concat([Buffer.from(head), ext, mask ? randomBytes(4) : Buffer.alloc(0)])
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload])
  const key = randomBytes(4)
  const masked = Buffer.alloc(payload.length)
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i]! ^ key[i & 3]!
  return Buffer.concat([Buffer.from(head), ext, key, masked])
}

export function closePayload (code: number, reason: Buffer | string = ''): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(code)
  return Buffer.concat([b, typeof reason === 'string' ? Buffer.from(reason) : reason])
}

export interface ServerFrame { fin: boolean, opcode: number, payload: Buffer }

/** A raw client after a successful handshake. */
export class RawClient {
  readonly frames: ServerFrame[] = []
  ended = false
  #buf: Buffer = Buffer.alloc(0)
  #waiters: Array<() => void> = []

  constructor (readonly socket: Socket, rest: Buffer) {
    socket.on('data', (d: Buffer) => this.#feed(d))
    socket.on('close', () => { this.ended = true; this.#wake() })
    socket.on('error', () => {})
    if (rest.length > 0) this.#feed(rest)
  }

  send (buf: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(buf)
  }

  /** the next server frame matching `pred`, or undefined if the connection ends first */
  async next (pred: (f: ServerFrame) => boolean = () => true, timeoutMs = 5000): Promise<ServerFrame | undefined> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const found = this.frames.find(pred)
      if (found !== undefined) return found
      if (this.ended) return undefined
      if (Date.now() > until) throw new Error(`timed out; frames so far: ${this.frames.map((f) => f.opcode).join(',')}`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, until - Date.now()))
        this.#waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
  }

  /** the code of the server's close frame (null: closed without a code; undefined: no close frame at all) */
  async closeCode (timeoutMs = 5000): Promise<number | null | undefined> {
    const f = await this.next((x) => x.opcode === OP.close, timeoutMs)
    if (f === undefined) return undefined
    return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null
  }

  destroy (): void { this.socket.destroy() }

  #feed (d: Buffer): void {
    this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d])
    for (;;) {
      const b = this.#buf
      if (b.length < 2) break
      let len = b[1]! & 0x7f
      let off = 2
      if (len === 126) { if (b.length < 4) break; len = b.readUInt16BE(2); off = 4 } else if (len === 127) { if (b.length < 10) break; len = Number(b.readBigUInt64BE(2)); off = 10 }
      if (b.length < off + len) break
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, payload: b.subarray(off, off + len) })
      this.#buf = b.subarray(off + len)
    }
    this.#wake()
  }

  #wake (): void {
    const w = this.#waiters
    this.#waiters = []
    for (const f of w) f()
  }
}

export interface RawResponse { status: number, headers: string, rest: Buffer, socket: Socket, ms: number }

/** Sends raw bytes as a request and resolves with the status line's code once the head arrives (0 if closed first). */
export async function rawRequest (port: number, request: string | Buffer): Promise<RawResponse> {
  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  socket.write(request)
  return await new Promise((resolve) => {
    let buf = Buffer.alloc(0)
    const done = (status: number, headers: string, rest: Buffer) => {
      socket.removeAllListeners('data')
      resolve({ status, headers, rest, socket, ms: Date.now() - started })
    }
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      const end = buf.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = buf.subarray(0, end).toString('latin1')
      done(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, buf.subarray(end + 4))
    })
    socket.on('close', () => done(0, '', Buffer.alloc(0)))
  })
}

export function upgradeRequest (path: string, headers: Record<string, string | undefined> = {}, method = 'GET'): string {
  const h: Record<string, string | undefined> = {
    Host: '127.0.0.1',
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...headers
  }
  let out = `${method} ${path} HTTP/1.1\r\n`
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out += `${k}: ${v}\r\n`
  return out + '\r\n'
}

/** A raw client that completed the handshake on `path`. */
export async function rawConnect (port: number, path = '/ws/echo'): Promise<RawClient> {
  const res = await rawRequest(port, upgradeRequest(path))
  if (res.status !== 101) throw new Error(`upgrade refused: ${res.status}`)
  return new RawClient(res.socket, res.rest)
}
