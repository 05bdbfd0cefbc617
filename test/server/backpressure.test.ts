// Backpressure on every route: no socket makes the server hold more than SEND_BUFFER_LIMIT_BYTES of
// unsent data. Real listening server, raw TCP clients that stop reading.
import t from 'tap'
import type WebSocket from 'ws'
import { captureLogs, listen } from '../helper.js'
import { OP, frame, rawConnect } from '../hardening/raw.js'

const FRAME = 64 * 1024

/** a frame's payload: its index in the first 4 bytes, then a byte derived from it */
function payload (i: number): Buffer {
  const buf = Buffer.alloc(FRAME, i & 0xff)
  buf.writeUInt32BE(i, 0)
  return buf
}

async function until (cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

t.test('echo: a client that sends without reading stops being read; once it reads, every frame arrives in order', async (t) => {
  const limit = 1024 * 1024
  // no heartbeat within the test: a paused socket does not read pongs (see the heartbeat tests)
  const { app, port } = await listen(t, { SEND_BUFFER_LIMIT_BYTES: String(limit), HEARTBEAT_INTERVAL_MS: '3600000' })
  const c = await rawConnect(port, '/ws/echo')
  t.teardown(() => c.destroy())
  c.socket.pause() // never reads: the server's echoes fill the kernel buffers, then its own queue
  const conn = [...app.registry.values()][0]!
  const server = conn.socket as unknown as WebSocket
  // runs after the echo listener of each frame: sees the queue at its highest
  let maxBuffered = 0
  server.on('message', () => { maxBuffered = Math.max(maxBuffered, server.bufferedAmount) })

  let sent = 0
  const send = (): void => { c.socket.write(frame({ opcode: OP.binary, payload: payload(sent++) })) }
  // write until the server has paused reading this socket; bounded, so a server that never pauses fails here
  while (!server.isPaused) {
    if (sent > 2000) {
      t.fail('the server never paused after 2000 frames (128 MB)')
      return
    }
    send()
    // let the server take it: c.socket's buffer grows only once the server stops reading
    await until(() => c.socket.writableLength === 0 || server.isPaused, 'the frame to leave')
  }
  const readAtPause = conn.messagesIn
  t.ok(maxBuffered > 0, `the server queued echoes (max ${maxBuffered} B) before pausing`)
  // keep writing: nothing more is read, so the kernel buffers fill and the client's own writes back up
  const backlogTarget = 2 * 1024 * 1024
  while (c.socket.writableLength < backlogTarget) {
    send()
    if (sent > 4000) break
    await new Promise((resolve) => setImmediate(resolve))
  }
  t.ok(c.socket.writableLength >= backlogTarget, `the client's writes are blocked (${c.socket.writableLength} B waiting on its side)`)
  t.ok(server.isPaused, 'still paused')
  t.equal(conn.messagesIn, readAtPause, 'not one more frame read while paused')
  t.ok(maxBuffered <= limit, `server-side unsent bytes stayed within the limit (max ${maxBuffered} of ${limit})`)

  // the client reads again: the server drains, resumes, and echoes everything that was held
  c.socket.resume()
  await until(() => c.frames.length >= sent || c.ended, `${sent} echoes`, 60_000)
  t.equal(c.ended, false, 'still open')
  t.equal(c.frames.length, sent, 'every frame echoed')
  let inOrder = true
  for (let i = 0; i < c.frames.length; i++) {
    const f = c.frames[i]!
    if (f.opcode !== OP.binary || !f.payload.equals(payload(i))) { inOrder = false; t.fail(`frame ${i} differs`); break }
  }
  t.ok(inOrder, 'same bytes, same order, none lost')
  t.equal(conn.messagesIn, sent)
  t.ok(maxBuffered <= limit, `and within the limit throughout (max ${maxBuffered} B)`)
  t.equal(conn.endedBy, undefined, 'not closed as a slow consumer')
})

t.test('time: a client that never reads is closed with 4001 slow consumer once its backlog passes the limit', async (t) => {
  const limit = 1024
  const { logger, lines } = captureLogs()
  const { app, port } = await listen(t, { SEND_BUFFER_LIMIT_BYTES: String(limit), HEARTBEAT_INTERVAL_MS: '3600000' }, { loggerInstance: logger })
  const c = await rawConnect(port, '/ws/time?interval=100')
  t.teardown(() => c.destroy())
  c.socket.pause() // never reads
  const conn = [...app.registry.values()][0]!
  // Ticks alone take many minutes to fill loopback's socket buffers (megabytes); pongs, which count
  // against the limit like the ticks, fill them in seconds. Pinging stops once the server holds a backlog.
  const ping = frame({ opcode: OP.text, payload: '{"type":"ping"}' })
  const BATCH = 1024
  const batch = Buffer.concat(Array.from({ length: BATCH }, () => ping))
  let pinged = 0
  while (conn.socket.bufferedAmount === 0 && conn.endedBy === undefined) {
    if (pinged > 2_000_000) {
      t.fail('the kernel buffers never filled')
      return
    }
    c.socket.write(batch)
    pinged += BATCH
    while (conn.messagesIn < pinged && conn.endedBy === undefined) await new Promise((resolve) => setImmediate(resolve))
  }
  t.pass(`backlog on the server after ${pinged} pongs`)
  await until(() => app.registry.size === 0, 'the slow consumer to be gone', 15_000)
  t.equal(conn.endedBy, 'slow consumer')
  const closeLine = lines.find((l) => l.msg === 'ws closed')
  t.match(closeLine, { route: 'time', endedBy: 'slow consumer' }, 'the close line says why')
  t.ok(lines.some((l) => l.msg === 'slow consumer: closing' && l.route === 'time' && (l.bufferedAmount as number) > limit), 'closed once past the limit, not before')
})
