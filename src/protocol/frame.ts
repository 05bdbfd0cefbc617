// Server -> client WebSocket frames built once and written as they are (RFC 6455 section 5.2).
// A broadcast goes to many sockets: framing it once leaves each delivery a single write of the
// same bytes, where ws's send() builds a header per socket and corks two writes into a writev.

const OP_TEXT = 0x1
const FIN = 0x80

/** Header length of a server (unmasked) frame carrying `len` payload bytes. */
function headerLength (len: number): number {
  return len < 126 ? 2 : len < 65536 ? 4 : 10
}

/**
 * One final, unmasked text frame: header and UTF-8 payload in one buffer, encoded straight into
 * place (no intermediate payload buffer). The caller vouches that `text` is what it wants sent;
 * lone surrogates become U+FFFD as with any UTF-8 encoding in Node.
 */
export function textFrame (text: string): Buffer {
  const len = Buffer.byteLength(text)
  const head = headerLength(len)
  const out = Buffer.allocUnsafe(head + len)
  out[0] = FIN | OP_TEXT
  if (len < 126) {
    out[1] = len
  } else if (len < 65536) {
    out[1] = 126
    out.writeUInt16BE(len, 2)
  } else {
    out[1] = 127
    out.writeUInt32BE(Math.floor(len / 0x100000000), 2)
    out.writeUInt32BE(len >>> 0, 6)
  }
  out.write(text, head, 'utf8')
  return out
}

/** Where a textFrame()'s payload starts (its second byte says how the length is written). */
function payloadStart (frame: Buffer): number {
  const b1 = frame[1]!
  return b1 === 126 ? 4 : b1 === 127 ? 10 : 2
}

/** The payload of a frame built by textFrame (a view, no copy). */
export function framePayload (frame: Buffer): Buffer {
  return frame.subarray(payloadStart(frame))
}

/** How many payload bytes a frame built by textFrame carries. */
export function payloadLength (frame: Buffer): number {
  return frame.length - payloadStart(frame)
}
