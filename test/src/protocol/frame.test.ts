import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import fc from 'fast-check'
import t from 'tap'
import WebSocket from 'ws'
import { framePayload, payloadLength, textFrame } from '../../../src/protocol/frame.js'

t.test('textFrame: FIN text frame, unmasked, with each of the three length encodings', async (t) => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const text = 'a'.repeat(len)
    const f = textFrame(text)
    t.equal(f[0], 0x81, `${len}: FIN and opcode 1`)
    t.equal(f[1]! & 0x80, 0, `${len}: no mask bit`)
    if (len < 126) {
      t.equal(f[1], len)
      t.equal(f.length, 2 + len)
    } else if (len < 65536) {
      t.equal(f[1], 126)
      t.equal(f.readUInt16BE(2), len)
      t.equal(f.length, 4 + len)
    } else {
      t.equal(f[1], 127)
      t.equal(f.readBigUInt64BE(2), BigInt(len))
      t.equal(f.length, 10 + len)
    }
    t.equal(payloadLength(f), len)
    t.equal(framePayload(f).toString(), text)
  }
})

t.test('textFrame: the payload is the UTF-8 of any string, the length its byte count', async (t) => {
  fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (text) => {
    const f = textFrame(text)
    const utf8 = Buffer.from(text)
    return payloadLength(f) === utf8.length && framePayload(f).equals(utf8)
  }), { numRuns: 500 })
  t.pass('500 random strings (all planes, lone surrogates included)')
})

t.test('a ws client reads textFrame bytes as the same text messages', async (t) => {
  const texts = ['', 'hi', 'ünïcødé 😀', 'x'.repeat(125), 'y'.repeat(126), 'z'.repeat(65535), 'w'.repeat(65536 + 3)]
  // a server that speaks only the handshake, then writes every frame in one write
  const server = createServer((sock) => {
    sock.once('data', (head) => {
      const key = /sec-websocket-key: *(\S+)/i.exec(String(head))![1]!
      const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
      sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
      sock.write(Buffer.concat(texts.map((x) => textFrame(x))))
    })
    sock.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  t.teardown(() => ws.terminate())
  const got: Array<[string, boolean]> = []
  await new Promise<void>((resolve, reject) => {
    ws.on('error', reject)
    ws.on('message', (data, isBinary) => {
      got.push([String(data), isBinary])
      if (got.length === texts.length) resolve()
    })
  })
  t.same(got, texts.map((x) => [x, false]))
})
