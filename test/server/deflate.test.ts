import { once } from 'node:events'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { deflateRawSync } from 'node:zlib'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { closed, connect, listen, upgradeStatus } from '../helper.js'

/** Opens a ws client and keeps the TCP socket under it, to count the bytes on the wire. */
async function open (t: Test, url: string, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket, tcp: Socket, accepted: string }> {
  const ws = new WebSocket(url, options)
  t.teardown(() => ws.terminate())
  // the response's socket is the one the frames travel on; 'open' follows 'upgrade' in the same tick
  const upgraded = once(ws, 'upgrade') as Promise<[IncomingMessage]>
  const opened = once(ws, 'open')
  const [[res]] = await Promise.all([upgraded, opened])
  return { ws, tcp: res.socket, accepted: res.headers['sec-websocket-extensions'] ?? '' }
}

/** The next message on `ws`, as [data, isBinary]. */
async function reply (ws: WebSocket): Promise<[Buffer, boolean]> {
  const [data, isBinary] = await once(ws, 'message') as [Buffer, boolean]
  return [data, isBinary]
}

t.test('off by default: a client offer is not taken up', async (t) => {
  const { ws: base } = await listen(t)
  const { ws, accepted } = await open(t, `${base}/ws/echo`, { perMessageDeflate: true })
  t.equal(ws.extensions, '')
  t.equal(accepted, '', 'no extension in the 101')
  const got = reply(ws)
  ws.send('x'.repeat(4096))
  t.equal(String((await got)[0]), 'x'.repeat(4096))
})

t.test('on: negotiated without context takeover, and echo round-trips', async (t) => {
  const { ws: base } = await listen(t, { PERMESSAGE_DEFLATE: 'true' })
  // ws's client offers client_max_window_bits, as browsers do
  const { ws, tcp, accepted } = await open(t, `${base}/ws/echo`, { perMessageDeflate: true })
  t.equal(ws.extensions, 'permessage-deflate')
  t.match(accepted, /server_no_context_takeover/)
  t.match(accepted, /client_no_context_takeover/)

  const text = JSON.stringify(Array.from({ length: 400 }, (_, i) => ({ type: 'message', seq: i, text: 'hello '.repeat(5) })))
  const read0 = tcp.bytesRead
  let got = reply(ws)
  ws.send(text)
  let [data, isBinary] = await got
  t.equal(String(data), text, 'large text comes back the same')
  t.equal(isBinary, false)
  t.ok(tcp.bytesRead - read0 < text.length / 4, `the reply travelled compressed (${tcp.bytesRead - read0} bytes for ${text.length})`)

  const bin = Buffer.alloc(8192, 7)
  got = reply(ws)
  ws.send(bin)
  ;[data, isBinary] = await got
  t.same(data, bin, 'binary comes back the same')
  t.equal(isBinary, true)

  // under the 1 KB threshold: sent as is, still echoed
  got = reply(ws)
  ws.send('hi')
  t.equal(String((await got)[0]), 'hi')
})

t.test('on: MAX_PAYLOAD_BYTES bounds the inflated size (1009), not the compressed one', async (t) => {
  const max = 65_536
  const { ws: base } = await listen(t, { PERMESSAGE_DEFLATE: '1', MAX_PAYLOAD_BYTES: String(max) })
  const { ws, tcp } = await open(t, `${base}/ws/echo`, { perMessageDeflate: true })
  t.equal(ws.extensions, 'permessage-deflate')
  const bomb = Buffer.alloc(1024 * 1024, 0x61)
  t.ok(deflateRawSync(bomb).length < max / 16, 'a 1 MB message that deflates to a few KB')
  const written0 = tcp.bytesWritten
  const done = closed(ws)
  ws.send(bomb, { binary: false })
  const [code] = await done
  t.equal(code, 1009, 'closed as too big')
  t.ok(tcp.bytesWritten - written0 < max, `only ${tcp.bytesWritten - written0} bytes were sent`)

  // the server is unharmed: a message just under the limit, compressed too, still round-trips
  const next = await open(t, `${base}/ws/echo`, { perMessageDeflate: true })
  const fits = 'y'.repeat(max - 16)
  const got = reply(next.ws)
  next.ws.send(fits)
  t.equal(String((await got)[0]), fits)
})

t.test('on: a malformed offer is still a 400 from the upgrade guard; a smaller server window is granted', async (t) => {
  const { ws: base } = await listen(t, { PERMESSAGE_DEFLATE: '1' })
  t.equal(await upgradeStatus(`${base}/ws/echo`, {
    perMessageDeflate: false,
    headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; =broken' }
  }), 400)
  // a client asking for a smaller server window gets it (a fixed serverMaxWindowBits would make ws answer 400)
  const { ws, accepted } = await open(t, `${base}/ws/echo`, { perMessageDeflate: { serverMaxWindowBits: 10 } })
  t.match(accepted, /^permessage-deflate;.*server_max_window_bits=10/)
  const text = 'abc'.repeat(2000)
  const got = reply(ws)
  ws.send(text)
  t.equal(String((await got)[0]), text)
})

t.test('on: broadcasts and time ticks reach deflate and plain sockets alike, in order', async (t) => {
  const { ws: base } = await listen(t, { PERMESSAGE_DEFLATE: 'true' })
  // one frame is built for the room; the plain socket gets its bytes as they are, the deflate one through ws
  const zipped = await connect(t, `${base}/ws/chat/mixed?name=zip`, { perMessageDeflate: true })
  const plain = await connect(t, `${base}/ws/chat/mixed?name=plain`, { perMessageDeflate: false })
  t.equal(zipped.ws.extensions, 'permessage-deflate')
  t.equal(plain.ws.extensions, '')
  await zipped.frames.next('welcome')
  await plain.frames.next('welcome')
  const long = 'long '.repeat(300) // 1,500 B: over the 1 KB threshold: compressed for the deflate socket
  for (let i = 0; i < 20; i++) zipped.ws.send(JSON.stringify({ type: 'message', text: i % 2 === 0 ? `m${i}` : `${long}${i}` }))
  for (const peer of [zipped, plain]) {
    const texts: unknown[] = []
    for (let i = 0; i < 20; i++) texts.push((await peer.frames.next('message')).text)
    t.same(texts, Array.from({ length: 20 }, (_, i) => i % 2 === 0 ? `m${i}` : `${long}${i}`), `${peer === zipped ? 'deflate' : 'plain'} socket: all 20, in order`)
  }
  const tz = await connect(t, `${base}/ws/time?interval=100`, { perMessageDeflate: true })
  const tp = await connect(t, `${base}/ws/time?interval=100`, { perMessageDeflate: false })
  for (const c of [tz, tp]) {
    await c.frames.next('time')
    const tick = await c.frames.next('time')
    t.equal(new Date(tick.iso as string).getTime(), tick.epochMs, 'a pushed tick parses')
  }
})
