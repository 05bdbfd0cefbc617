import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import WebSocket from 'ws'
import { closed, connect, listen, captureLogs, waitFor } from '../helper.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const TOKEN = 'test-token-0123456789abcdef'

t.test('close codes on the wire: 1009 too big, 1007 bad UTF-8, 1003 binary on chat', async (t) => {
  const { ws: base } = await listen(t, { MAX_PAYLOAD_BYTES: '1024' })
  const big = await connect(t, `${base}/ws/echo`)
  const bigClosed = closed(big.ws)
  big.ws.send(Buffer.alloc(2000, 97), { binary: false })
  t.equal((await bigClosed)[0], 1009)

  const bad = await connect(t, `${base}/ws/echo`)
  const badClosed = closed(bad.ws)
  bad.ws.send(Buffer.from([0xc3, 0x28]), { binary: false }) // ws does not validate what it sends
  t.equal((await badClosed)[0], 1007)

  const chat = await connect(t, `${base}/ws/chat/r?name=B`)
  await chat.frames.next('welcome')
  const chatClosed = closed(chat.ws)
  chat.ws.send(Buffer.from([1, 2]))
  t.equal((await chatClosed)[0], 1003)
})

t.test('heartbeat terminates a peer that stops answering pings; it leaves its room', async (t) => {
  const { logger, lines } = captureLogs()
  const { app, ws: base } = await listen(t, { HEARTBEAT_INTERVAL_MS: '100' }, { loggerInstance: logger })
  const alive = await connect(t, `${base}/ws/chat/hb?name=Alive`)
  await alive.frames.next('welcome')
  const dead = await connect(t, `${base}/ws/chat/hb?name=Dead`, { autoPong: false })
  await dead.frames.next('welcome')
  const deadClosed = closed(dead.ws)
  t.match(await alive.frames.next('leave', 3000), { name: 'Dead' })
  t.equal((await deadClosed)[0], 1006, 'terminated without a close frame')
  t.equal(app.registry.size, 1, 'the answering client is still there')
  t.ok(lines.some((l) => l.msg === 'heartbeat timeout: terminating'), 'logged')
  t.ok(lines.some((l) => l.msg === 'ws closed' && l.endedBy === 'heartbeat timeout'), 'close line says why')
})

t.test('a flooding client is closed with 4000 after a few seconds past the limit', async (t) => {
  const { ws: base } = await listen(t, { CHAT_RATE_PER_SEC: '5', CHAT_RATE_BURST: '5' })
  const c = await connect(t, `${base}/ws/chat/flood?name=F`)
  await c.frames.next('welcome')
  const done = closed(c.ws, 15000)
  const timer = setInterval(() => { if (c.ws.readyState === WebSocket.OPEN) c.ws.send('spam') }, 20) // 50/s vs 5/s
  t.teardown(() => clearInterval(timer))
  const started = Date.now()
  const [code, reason] = await done
  clearInterval(timer)
  t.equal(code, 4000)
  t.equal(reason, 'rate limit exceeded')
  t.ok(Date.now() - started >= 2500, 'not closed at the first refusal')
  t.ok(c.frames.all('error').every((e) => e.code === 'rate_limited'))
})

t.test('seq is gapless and ordered under 5 concurrent senders', async (t) => {
  // the five senders are one client (one address): their 200 messages come out of one budget
  const { ws: base } = await listen(t, { CHAT_RATE_BURST: '1000', CHAT_RATE_PER_SEC: '1000' })
  const reader = await connect(t, `${base}/ws/chat/busy?name=Reader`)
  await reader.frames.next('welcome')
  const senders = await Promise.all([1, 2, 3, 4, 5].map(async (i) => {
    const s = await connect(t, `${base}/ws/chat/busy?name=S${i}`)
    await s.frames.next('welcome')
    return s
  }))
  for (let n = 0; n < 40; n++) for (const s of senders) s.ws.send(`m${n}`)
  await reader.frames.next((f) => f.type === 'message' && f.seq === 200, 10000)
  const seqs = reader.frames.all('message').map((m) => m.seq)
  t.same(seqs, Array.from({ length: 200 }, (_, i) => i + 1))
  for (const s of senders) {
    await s.frames.next((f) => f.seq === 200, 5000)
    t.same(s.frames.all('message').map((m) => m.seq), seqs, 'every member sees the same order')
  }
})

t.test('a client that never reads is closed as a slow consumer; the others get everything in order', async (t) => {
  const limit = 1024 * 1024
  const { app, ws: base } = await listen(t, { SEND_BUFFER_LIMIT_BYTES: String(limit), CHAT_MAX_LENGTH: '60000', API_TOKEN: TOKEN, HISTORY_SIZE: '10' })
  const readers = await Promise.all(['R1', 'R2'].map(async (n) => {
    const r = await connect(t, `${base}/ws/chat/firehose?name=${n}`)
    await r.frames.next('welcome')
    return r
  }))
  const slow = await connect(t, `${base}/ws/chat/firehose?name=Slow`)
  await slow.frames.next('welcome')
  ;(slow.ws as unknown as { _socket: { pause (): void } })._socket.pause() // stop reading: the kernel buffers fill
  const slowConn = [...app.registry.values()].at(-1) // the registry keeps insertion order: the last one joined
  t.equal(slowConn?.route, 'chat')
  const text = 'x'.repeat(50_000)
  const count = 600 // 30 MB
  gc() // heap is compared after full collections: garbage of the flood is not growth
  const heapBefore = process.memoryUsage().heapUsed
  let maxBuffered = 0
  const statuses = new Set<number>()
  for (let i = 0; i < count; i++) {
    const res = await app.inject({ method: 'POST', url: '/rooms/firehose/messages', payload: { text }, headers: { authorization: `Bearer ${TOKEN}` } })
    statuses.add(res.statusCode)
    maxBuffered = Math.max(maxBuffered, slowConn!.socket.bufferedAmount)
  }
  t.same([...statuses], [201], 'every publish accepted')
  gc()
  const heapAfter = process.memoryUsage().heapUsed
  for (const r of readers) {
    await r.frames.next((f) => f.seq === count, 20000)
    t.same(r.frames.all('message').map((m) => m.seq), Array.from({ length: count }, (_, i) => i + 1), 'every message, in order')
  }
  t.equal(slowConn!.endedBy, 'slow consumer')
  t.ok(maxBuffered <= limit + 64 * 1024, `server-side backlog for the stuck socket stayed bounded (max ${maxBuffered} B)`)
  // the two readers in this process keep every message they parsed (2 x 30 MB); the server must keep only
  // its HISTORY_SIZE messages, not the flood (a byte-budget queue that kept dropped messages read 91 MB here)
  t.ok(heapAfter - heapBefore < 80 * 1024 * 1024, `heap grew ${((heapAfter - heapBefore) / 1e6).toFixed(1)} MB for a 30 MB flood (bound 80 MB)`)
  await waitFor(() => app.registry.size === 2, 'the slow consumer gone from the registry')
  t.equal(app.registry.size, 2, 'the slow consumer is gone from the registry')
})

t.test('resume across a restart: the epoch changes and the client is told truncated', async (t) => {
  const first = await listen(t)
  const a = await connect(t, `${first.ws}/ws/chat/keep?name=A`)
  const welcome = await a.frames.next('welcome')
  a.ws.send('before restart')
  const m = await a.frames.next('message')
  await first.app.close()
  const second = await listen(t)
  const b = await connect(t, `${second.ws}/ws/chat/keep?name=A&since=${String(m.seq)}&epoch=${String(welcome.epoch)}`)
  const again = await b.frames.next('welcome')
  t.equal(again.truncated, true)
  t.not(again.epoch, welcome.epoch)
  t.equal(again.seq, 0)
})
