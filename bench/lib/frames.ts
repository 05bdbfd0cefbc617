// Client-side WebSocket frames for the load generator, built once and sent many times, and the
// payload text the scenarios send.
import { randomBytes } from 'node:crypto'
import { constants as zlib, deflateRawSync } from 'node:zlib'

// one random mask key for every frame: still masked as RFC 6455 wants, and pre-building stays cheap
const MASK = randomBytes(4)
if ((MASK[0]! | MASK[1]! | MASK[2]! | MASK[3]!) === 0) MASK[0] = 1

export const OP_TEXT = 1
export const OP_CLOSE = 8
export const OP_PING = 9
export const OP_PONG = 10

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

export const SIO_PONG = maskedFrame(OP_TEXT, Buffer.from('3'))
export const SIO_CONNECT = maskedFrame(OP_TEXT, Buffer.from('40'))
export const CLOSE_1000 = maskedFrame(OP_CLOSE, Buffer.from([0x03, 0xe8]))

/** A readable, somewhat compressible ASCII body of exactly `size` bytes. */
export function body (size: number): string {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima']
  let s = ''
  let x = 7
  while (s.length < size) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    s += words[x % words.length]! + ' '
  }
  return s.slice(0, size)
}

/** An echo request of `payload` in the target's framing (Socket.IO wraps it in an "echo" event). */
export function echoFrame (sio: boolean, payload: string): Buffer {
  return maskedFrame(OP_TEXT, Buffer.from(sio ? `42["echo","${payload}"]` : payload))
}
