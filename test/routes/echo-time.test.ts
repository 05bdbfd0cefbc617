import { once } from 'node:events'
import t from 'tap'
import { build, connect, listen } from '../helper.js'
import { OP, frame, rawConnect } from '../hardening/raw.js'

t.test('echo returns text as text and binary as binary, in order', async (t) => {
  const app = await build(t)
  const ws = await app.injectWS('/ws/echo')
  t.teardown(() => ws.terminate())
  const got: Array<[string, boolean]> = []
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data, isBinary) => {
      got.push([isBinary ? Buffer.from(data as Buffer).toString('hex') : String(data), isBinary])
      if (got.length === 3) resolve()
    })
  })
  ws.send('hi')
  ws.send(Buffer.from([0, 255, 1]))
  ws.send('ünïcødé 😀')
  await done
  t.same(got, [['hi', false], ['00ff01', true], ['ünïcødé 😀', false]])
  t.equal(app.registry.countByRoute().echo, 1)
})

t.test('echo answers a burst of frames in order, in a few writes rather than one per frame', async (t) => {
  const { app, port } = await listen(t)
  const c = await rawConnect(port)
  t.teardown(() => c.destroy())
  const [conn] = [...app.registry.values()]
  // count the server's system-call-sized writes on this socket (net.Socket's _write and _writev)
  const tcp = (conn!.socket as unknown as { _socket: Record<string, (...args: unknown[]) => unknown> })._socket
  let writes = 0
  for (const method of ['_write', '_writev']) {
    const original = tcp[method]!
    tcp[method] = function (this: unknown, ...args: unknown[]) { writes++; return original.apply(this, args) }
  }
  const sent: Array<{ opcode: number, payload: Buffer }> = []
  for (let i = 0; i < 300; i++) {
    const binary = i % 3 === 0
    sent.push({ opcode: binary ? OP.binary : OP.text, payload: binary ? Buffer.from([i & 0xff, 0, 0xff]) : Buffer.from(`frame ${i} ${'x'.repeat(i % 50)}`) })
  }
  c.send(Buffer.concat(sent.map((f) => frame(f)))) // one TCP write: the server reads it in one or a few chunks
  await c.next(() => c.frames.length >= 300)
  t.same(c.frames.map((f) => [f.opcode, f.payload.toString('hex')]), sent.map((f) => [f.opcode, f.payload.toString('hex')]), 'every frame back, same type and bytes, in order')
  t.ok(writes >= 1 && writes <= 10, `300 frames left in ${writes} writes`)
  t.equal(conn!.messagesOut, 300)
})

t.test('time pushes at once and then every interval', async (t) => {
  const app = await build(t)
  const ws = await app.injectWS('/ws/time?interval=100')
  t.teardown(() => ws.terminate())
  const frames: Array<Record<string, unknown>> = []
  const three = new Promise<void>((resolve) => {
    ws.on('message', (d) => { frames.push(JSON.parse(String(d))); if (frames.length === 3) resolve() })
  })
  await three
  for (const f of frames) {
    t.equal(f.type, 'time')
    t.type(f.epochMs, 'number')
    t.equal(new Date(f.iso as string).getTime(), f.epochMs, 'iso and epochMs agree')
  }
  const gap = (frames[2]!.epochMs as number) - (frames[1]!.epochMs as number)
  t.ok(gap >= 50 && gap < 1000, `ticks about 100 ms apart (${gap})`)
})

t.test('time interval out of range or not a number: 400 before the upgrade', async (t) => {
  const app = await build(t)
  for (const q of ['interval=99', 'interval=60001', 'interval=abc', 'interval=1.5']) {
    await t.rejects(app.injectWS(`/ws/time?${q}`), /Unexpected server response: 400/, q)
  }
  t.equal(app.registry.size, 0)
})

t.test('time sockets share one timer per interval, and it stops with the last socket', async (t) => {
  // real sockets: over injectWS's in-memory stream the server's side of a client-initiated close only ends at
  // ws's 30 s close timeout, so the registry would empty 30 s late
  const { app, ws } = await listen(t)
  const { ws: a } = await connect(t, `${ws}/ws/time?interval=200`)
  const { ws: b } = await connect(t, `${ws}/ws/time?interval=200`)
  t.equal(app.registry.countByRoute().time, 2)
  const closes = [once(a, 'close'), once(b, 'close')]
  a.close(); b.close()
  await Promise.all(closes)
  // the server side closes after the client's close frame; wait for the registry to empty
  while (app.registry.size > 0) await new Promise((resolve) => setImmediate(resolve))
  t.equal(app.registry.size, 0)
})

t.test('a ping on the time socket is answered with a pong (round-trip measurement)', async (t) => {
  const app = await build(t)
  const ws = await app.injectWS('/ws/time?interval=60000')
  t.teardown(() => ws.terminate())
  const pong = new Promise<Record<string, unknown>>((resolve) => ws.on('message', (d) => {
    const f = JSON.parse(String(d)) as Record<string, unknown>
    if (f.type === 'pong') resolve(f)
  }))
  ws.send('not json')
  ws.send('{"type":"ping"}')
  t.type((await pong).ts, 'number')
})
