import { EventEmitter } from 'node:events'
import t from 'tap'
import { ConnectionRegistry } from '../../../src/registry/registry.js'
import { OPEN, TEXT, type SocketLike } from '../../../src/registry/connection.js'
import { SlotCounts } from '../../../src/registry/caps.js'
import { textFrame } from '../../../src/protocol/frame.js'

class FakeSocket extends EventEmitter implements SocketLike {
  readyState = OPEN
  bufferedAmount = 0
  sent: Array<Buffer | string> = []
  closes: Array<[number | undefined, string | undefined]> = []
  terminated = false
  pings = 0
  answer = true
  send (data: Buffer | string): void { this.sent.push(data) }
  close (code?: number, reason?: string): void {
    this.closes.push([code, reason])
    this.readyState = 2
    if (this.answer) setImmediate(() => { this.readyState = 3; this.emit('close', code, Buffer.from(reason ?? '')) })
  }

  terminate (): void { this.terminated = true; this.readyState = 3; this.emit('close', 1006, Buffer.alloc(0)) }
  ping (): void { this.pings++ }
}

function logger () {
  const lines: Array<{ obj: Record<string, unknown>, msg: string }> = []
  const push = (obj: object, msg: string) => { lines.push({ obj: obj as Record<string, unknown>, msg }) }
  return { log: { info: push, warn: push, error: push }, lines }
}

t.test('add/remove keep counts and log connect and close', async (t) => {
  const { log, lines } = logger()
  const reg = new ConnectionRegistry(log)
  for (const route of ['echo', 'time', 'chat']) reg.route(route)
  const s1 = new FakeSocket()
  const s2 = new FakeSocket()
  const a = reg.add(s1, { route: 'echo', ip: '1.2.3.4', userAgent: 'ua' })
  reg.add(s2, { route: 'chat', ip: '5.6.7.8', userAgent: 'ua', room: 'r' })
  t.equal(reg.size, 2)
  t.same(reg.countByRoute(), { echo: 1, time: 0, chat: 1 })
  t.equal(reg.get(a.id), a)
  s1.emit('close', 1000, Buffer.from('bye'))
  t.equal(reg.size, 1)
  t.same(reg.countByRoute(), { echo: 0, time: 0, chat: 1 })
  const connected = lines.filter((l) => l.msg === 'ws connected')
  const closedLine = lines.find((l) => l.msg === 'ws closed')
  t.equal(connected.length, 2)
  t.match(connected[0]!.obj, { connId: a.id, route: 'echo', ip: '1.2.3.4' })
  t.match(closedLine?.obj, { connId: a.id, route: 'echo', ip: '1.2.3.4', code: 1000, reason: 'bye' })
  t.type(closedLine?.obj.durationMs, 'number')
  s1.emit('close', 1000, Buffer.from('again'))
  t.equal(lines.filter((l) => l.msg === 'ws closed').length, 1, 'a second close is ignored')
})

t.test('send counts bytes and skips sockets that are not open', async (t) => {
  const reg = new ConnectionRegistry(logger().log)
  const s = new FakeSocket()
  const c = reg.add(s, { route: 'echo', ip: 'x', userAgent: '' })
  c.send('abc', TEXT)
  s.readyState = 2
  c.send('def', { binary: false })
  t.same(s.sent, ['abc'])
  t.equal(c.messagesOut, 1)
  t.equal(c.bytesOut, 3)
  t.same(Object.keys(c.toJSON()).sort(), ['bytesIn', 'bytesOut', 'connectedAt', 'id', 'ip', 'messagesIn', 'messagesOut', 'room', 'route', 'userAgent'])
})

t.test('sendBatched corks the TCP socket once per tick and uncorks on the next tick', async (t) => {
  const reg = new ConnectionRegistry(logger().log)
  const tcp = {
    writableCorked: 0,
    corks: 0,
    cork () { this.writableCorked++; this.corks++ },
    uncork () { this.writableCorked-- }
  }
  const socket = Object.assign(new FakeSocket(), { _socket: tcp })
  const conn = reg.add(socket, { route: 'echo', ip: '1.2.3.4', userAgent: 'ua' })
  conn.sendBatched('a', { binary: false })
  conn.sendBatched(Buffer.from('bc'), { binary: true })
  t.same(socket.sent, ['a', Buffer.from('bc')], 'sent at once, in order (the cork holds them in the write queue)')
  t.equal(tcp.corks, 1, 'one cork for the burst')
  t.equal(tcp.writableCorked, 1, 'still corked within the tick')
  await new Promise<void>((resolve) => process.nextTick(resolve))
  t.equal(tcp.writableCorked, 0, 'uncorked before the event loop moves on')
  t.equal(conn.messagesOut, 2)
  t.equal(conn.bytesOut, 3)
  conn.sendBatched('d', { binary: false })
  t.equal(tcp.corks, 2, 'the next tick corks again')
  await new Promise<void>((resolve) => process.nextTick(resolve))
  t.equal(tcp.writableCorked, 0)

  // a socket without a stream under it (these fakes) sends plainly
  const plain = reg.add(new FakeSocket(), { route: 'echo', ip: '1.2.3.4', userAgent: 'ua' })
  plain.sendBatched('x', { binary: false })
  t.same((plain.socket as FakeSocket).sent, ['x'])
})

t.test('sendFrame writes a prebuilt frame to the stream, or its payload through send() with deflate', async (t) => {
  const reg = new ConnectionRegistry(logger().log)
  const frame = textFrame('héllo')
  const writes: Buffer[] = []
  const stream = { writableCorked: 0, cork () {}, uncork () {}, write (b: Buffer) { writes.push(b); return true } }

  const direct = Object.assign(new FakeSocket(), { extensions: '', _socket: stream })
  const a = reg.add(direct, { route: 'chat', ip: 'x', userAgent: '', room: 'r' })
  a.sendFrame(frame)
  t.equal(writes.length, 1)
  t.equal(writes[0], frame, 'the same bytes, not a copy')
  t.same(direct.sent, [], 'ws did not frame it again')
  t.equal(a.bytesOut, Buffer.byteLength('héllo'), 'payload bytes counted')
  t.equal(a.messagesOut, 1)

  const deflated = Object.assign(new FakeSocket(), { extensions: 'permessage-deflate', _socket: stream })
  const b = reg.add(deflated, { route: 'chat', ip: 'x', userAgent: '', room: 'r' })
  b.sendFrame(frame)
  t.equal(writes.length, 1, 'nothing written past ws: it must compress')
  t.same(deflated.sent.map(String), ['héllo'], 'the payload through send()')
  t.equal(b.bytesOut, Buffer.byteLength('héllo'))

  direct.readyState = 2
  a.sendFrame(frame)
  t.equal(writes.length, 1, 'nothing once the socket is closing')
  t.equal(a.messagesOut, 1)
})

t.test('routes are an open set: a registered name counts from zero, an unregistered one from its first socket', async (t) => {
  const reg = new ConnectionRegistry(logger().log)
  t.equal(reg.route('echo'), 'echo', 'route() returns the name')
  reg.route('echo')
  t.same(reg.countByRoute(), { echo: 0 }, 'registering twice is one route')
  const s = new FakeSocket()
  reg.add(s, { route: 'shout', ip: 'x', userAgent: '' })
  t.same(reg.countByRoute(), { echo: 0, shout: 1 })
  t.same([...reg.routes()], ['echo', 'shout'])
  s.emit('close', 1000, Buffer.alloc(0))
  t.same(reg.countByRoute(), { echo: 0, shout: 0 }, 'a route stays listed at zero')
})

t.test('each entry counts in the slots: a claimed slot is adopted, an unclaimed socket counted, both counted back at close', async (t) => {
  const slots = new SlotCounts()
  const reg = new ConnectionRegistry(logger().log, slots)
  const caps = { perIp: 5, perUser: 5 }
  const slot = slots.claim('1.1.1.1', 'u', caps)
  if (typeof slot !== 'object') throw new Error('claim refused under the caps')
  const a = new FakeSocket()
  reg.add(a, { route: 'echo', ip: '1.1.1.1', userAgent: '', userId: 'u' }, slot)
  t.equal(slots.countByAddress('1.1.1.1'), 1, 'the claimed slot is not counted twice')
  t.equal(slot.held, false, 'the entry took the slot over')
  slots.release(slot)
  t.equal(slots.countByAddress('1.1.1.1'), 1, 'a release after the take-over does nothing')
  const b = new FakeSocket()
  reg.add(b, { route: 'echo', ip: '1.1.1.1', userAgent: '' })
  t.equal(slots.countByAddress('1.1.1.1'), 2, 'a socket added without a slot is counted')
  a.emit('close', 1000, Buffer.alloc(0))
  t.equal(slots.countByUser('u'), 0)
  b.emit('close', 1000, Buffer.alloc(0))
  t.equal(slots.countByAddress('1.1.1.1'), 0, 'both counted back once')
})

t.test('a socket error is logged and closes the socket with 1011', async (t) => {
  const { log, lines } = logger()
  const reg = new ConnectionRegistry(log)
  const s = new FakeSocket()
  const conn = reg.add(s, { route: 'echo', ip: 'x', userAgent: '' })
  s.emit('error', new Error('boom'))
  t.same(s.closes, [[1011, 'internal error']])
  t.match(lines.find((l) => l.msg === 'ws error')?.obj, { connId: conn.id })
})

t.test('drain sets draining once and closes every socket with 1001', async (t) => {
  const reg = new ConnectionRegistry(logger().log)
  const s = new FakeSocket()
  reg.add(s, { route: 'echo', ip: 'x', userAgent: '' })
  t.equal(reg.draining, false)
  const done = reg.drain(1000)
  t.equal(reg.draining, true, 'draining from the first step')
  await done
  t.same(s.closes, [[1001, 'server shutting down']])
  t.equal(reg.size, 0)
})

t.test('closeAll closes with the code and terminates peers that do not answer', async (t) => {
  const reg = new ConnectionRegistry(logger().log)
  const polite = new FakeSocket()
  const silent = new FakeSocket()
  silent.answer = false
  reg.add(polite, { route: 'echo', ip: 'x', userAgent: '' })
  reg.add(silent, { route: 'time', ip: 'x', userAgent: '' })
  await reg.closeAll(1001, 'server shutting down', 50)
  t.same(polite.closes, [[1001, 'server shutting down']])
  t.same(silent.closes, [[1001, 'server shutting down']])
  t.equal(polite.terminated, false)
  t.equal(silent.terminated, true)
  t.equal(reg.size, 0)
})
