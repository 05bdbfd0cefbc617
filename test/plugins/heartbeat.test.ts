// Liveness needs a real answer: only a pong echoing the server's own ping payload keeps a socket.
import t from 'tap'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { captureLogs, closed, connect, listen } from '../helper.js'
import { OP, frame, rawConnect, type RawClient } from '../hardening/raw.js'

const INTERVAL = 100

/** waits (bounded) until the server no longer holds any socket */
async function reaped (app: { registry: { size: number } }, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (app.registry.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  return app.registry.size === 0
}

/** a raw echo client that answers every ping it receives with `answer(ping payload)` (checked every 10 ms) */
function answering (t: Test, c: RawClient, answer: (payload: Buffer) => Buffer): () => number {
  let handled = 0
  const timer = setInterval(() => {
    const pings = c.frames.filter((f) => f.opcode === OP.ping)
    for (; handled < pings.length; handled++) c.send(frame({ opcode: OP.pong, payload: answer(pings[handled]!.payload) }))
  }, 10)
  t.teardown(() => clearInterval(timer))
  return () => handled
}

t.test('unsolicited pongs do not keep a peer that never answers pings alive', async (t) => {
  const { logger, lines } = captureLogs()
  const { app, port } = await listen(t, { HEARTBEAT_INTERVAL_MS: String(INTERVAL) }, { loggerInstance: logger })
  const c = await rawConnect(port, '/ws/echo')
  t.teardown(() => c.destroy())
  const timer = setInterval(() => c.send(frame({ opcode: OP.pong })), 50) // empty, never asked for
  t.teardown(() => clearInterval(timer))
  t.ok(await reaped(app), 'terminated')
  t.ok(c.frames.some((f) => f.opcode === OP.ping), 'it was pinged')
  t.ok(lines.some((l) => l.msg === 'ws closed' && l.endedBy === 'heartbeat timeout'), 'by the heartbeat')
})

t.test('a pong with the wrong payload does not count', async (t) => {
  const { app, port } = await listen(t, { HEARTBEAT_INTERVAL_MS: String(INTERVAL) })
  const c = await rawConnect(port, '/ws/echo')
  t.teardown(() => c.destroy())
  const answered = answering(t, c, (p) => Buffer.from(p.map((b) => b ^ 0xff))) // every byte wrong
  t.ok(await reaped(app), 'terminated')
  t.ok(answered() >= 1, 'it answered a ping, wrongly')
})

t.test('a raw client that echoes the ping payload stays up across several intervals', async (t) => {
  const { app, port } = await listen(t, { HEARTBEAT_INTERVAL_MS: String(INTERVAL) })
  const c = await rawConnect(port, '/ws/echo')
  t.teardown(() => c.destroy())
  const answered = answering(t, c, (p) => p)
  while (answered() < 5 && !c.ended) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(c.ended, false, 'still connected')
  t.equal(app.registry.size, 1)
  const payloads = new Set(c.frames.filter((f) => f.opcode === OP.ping).map((f) => f.payload.toString('hex')))
  t.ok(payloads.size >= 5, 'every round has its own payload')
})

t.test('a ws client (which answers pings as browsers do) stays up across several intervals', async (t) => {
  const { app, ws: base } = await listen(t, { HEARTBEAT_INTERVAL_MS: String(INTERVAL) })
  const c = await connect(t, `${base}/ws/echo`)
  const done = closed(c.ws, 60_000).catch(() => undefined)
  const seen = { pings: 0 }
  c.ws.on('ping', () => { seen.pings++ })
  while (seen.pings < 5 && c.ws.readyState === WebSocket.OPEN) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(c.ws.readyState, WebSocket.OPEN, `still open after ${seen.pings} pings`)
  t.equal(app.registry.size, 1)
  c.ws.close()
  await done
})
