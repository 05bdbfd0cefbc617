import { EventEmitter, once } from 'node:events'
import t, { type Test } from 'tap'
import { ChatSession, Hub, type HubOptions } from '../../../src/hub/hub.js'
import { RoomLimitError, UnavailableError } from '../../../src/hub/errors.js'
import { backlogOf } from '../../../src/hub/history.js'
import type {
  Backlog, ChatMessage, Draft, HubListener, HubStore, Member, PublishResult, RoomSummary, RoomsPage, SignalEvent
} from '../../../src/hub/types.js'
import { framePayload } from '../../../src/protocol/frame.js'
import { Connection, type SocketLike } from '../../../src/registry/connection.js'
import { checkFrames, frameProblem, waitFor } from '../../helper.js'

type Frame = Record<string, unknown>

/** A gate a fake store call waits on, opened by the test. */
function gate () {
  let open!: () => void
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { opened, open }
}

/**
 * A store in one process that the test can hold still: `joinGate` holds join() before the backlog is read,
 * `backlogGate` holds backlog() after it has been read. publish() calls the listener synchronously, as the
 * memory store does.
 */
class FakeStore implements HubStore {
  listener: HubListener | undefined
  readonly epoch = 'E1'
  seq = 0
  readonly held: Array<{ msg: ChatMessage }> = []
  readonly cids = new Map<string, ChatMessage>()
  joinGate: Promise<void> | undefined
  backlogGate: Promise<void> | undefined
  /** the next publish fails with this */
  failNext: Error | undefined
  /** the next joins fail with this */
  joinFails: Error | undefined
  readonly joined: Member[] = []
  readonly left: Member[] = []

  setListener (listener: HubListener): void { this.listener = listener }

  async publish (room: string, draft: Draft): Promise<PublishResult> {
    const err = this.failNext
    this.failNext = undefined
    if (err !== undefined) throw err
    const original = draft.cid !== undefined ? this.cids.get(draft.cid) : undefined
    if (original !== undefined) return { message: original, epoch: this.epoch, duplicate: true }
    const msg: ChatMessage = { type: 'message', id: `id-${this.seq + 1}`, room, seq: ++this.seq, from: draft.from, text: draft.text, ts: 1 }
    this.held.push({ msg })
    if (draft.cid !== undefined) this.cids.set(draft.cid, msg)
    this.listener?.message(msg)
    return { message: msg, epoch: this.epoch, duplicate: false }
  }

  async backlog (_room: string, since?: number, epoch?: string, limit = Infinity): Promise<Backlog> {
    const result = backlogOf({ epoch: this.epoch, seq: this.seq, held: [...this.held] }, since, epoch, limit)
    await this.backlogGate
    return result
  }

  async join (_room: string, member: Member): Promise<{ names: string[], count: number }> {
    await this.joinGate
    if (this.joinFails !== undefined) throw this.joinFails
    this.joined.push(member)
    return { names: this.joined.map((m) => m.name), count: this.joined.length }
  }

  async signal (ev: SignalEvent): Promise<void> { this.listener?.signal?.(ev) }
  async leave (_room: string, member: Member): Promise<void> { this.left.push(member) }
  async members (): Promise<string[]> { return this.joined.map((m) => m.name) }
  async summary (room: string): Promise<RoomSummary> { return { room, members: this.joined.length, seq: this.seq, epoch: this.epoch } }
  async rooms (): Promise<RoomsPage> { return { rooms: [], next: undefined } }
  async peek (room: string, since?: number, epoch?: string, limit?: number): Promise<Backlog> { return await this.backlog(room, since, epoch, limit) }
  async canCreate (): Promise<boolean> { return true }
  async close (): Promise<void> {}
}

/** What ws's net.Socket does for the hub: cork, write, uncork, recorded in order. */
class FakeStream {
  readonly ops: string[] = []
  writableCorked = 0
  cork (): void { this.writableCorked++; this.ops.push('cork') }
  uncork (): void { this.writableCorked--; this.ops.push('uncork') }
  write (chunk: Buffer): boolean { this.ops.push(String(framePayload(chunk))); return true }
}

/** A ws WebSocket as far as the registry and the hub use it. */
class FakeSocket extends EventEmitter implements SocketLike {
  readyState = 1
  bufferedAmount = 0
  readonly sent: string[] = []
  readonly closes: Array<[number | undefined, string | undefined]> = []
  terminated = false
  /** when set, close() completes the handshake on the next turn, as a peer that answers would */
  onClosed: (() => void) | undefined
  // only a socket with a stream and no extensions gets frames written straight to the stream
  readonly extensions: string | undefined
  readonly _socket: FakeStream | undefined

  constructor (stream?: FakeStream) {
    super()
    this._socket = stream
    this.extensions = stream !== undefined ? '' : undefined
  }

  send (data: Buffer | string): void { this.sent.push(String(data)) }
  close (code?: number, reason?: string): void {
    this.closes.push([code, reason])
    const done = this.onClosed
    if (done !== undefined) setImmediate(() => { this.readyState = 3; done() })
  }

  terminate (): void { this.terminated = true; this.readyState = 3; this.emit('terminated') }
  ping (): void {}

  /** every frame the socket got, parsed, whichever way it went out */
  frames (): Frame[] {
    const out: Frame[] = []
    for (const s of this.sent) out.push(JSON.parse(s) as Frame)
    for (const op of this._socket?.ops ?? []) if (op !== 'cork' && op !== 'uncork') out.push(JSON.parse(op) as Frame)
    return out
  }
}

function hub (t: Test, opts: Partial<HubOptions> = {}) {
  const store = new FakeStore()
  const logs: Array<{ level: string, msg: string, obj: object }> = []
  const log = (level: string) => (obj: object, msg: string) => { logs.push({ level, msg, obj }) }
  const options: HubOptions = {
    maxLength: 20,
    ratePerSec: 100,
    rateBurst: 100,
    sendBufferLimit: 1 << 20,
    log: { info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') },
    ...opts
  }
  const h = new Hub(store, options)
  checkFrames(t, h)
  const refused: string[] = []
  let accepted = 0
  h.events = { accepted: () => { accepted++ }, refused: (code) => { refused.push(code) }, delivered () {} }
  const sessions: ChatSession[] = []
  t.teardown(() => { for (const s of sessions) h.close(s) })
  /** a session whose socket is not yet opened in the hub */
  const session = (name: string, room = 'r', socket = new FakeSocket(), userId?: string, ip = '127.0.0.1') => {
    const conn = new Connection(socket, { route: 'chat', ip, userAgent: 'test', room, userId })
    const s = new ChatSession(conn, room, name, options)
    sessions.push(s)
    return { s, socket }
  }
  /** a session with its welcome out */
  const member = async (name: string, room = 'r', socket = new FakeSocket()) => {
    const m = session(name, room, socket)
    await h.open(m.s, undefined, undefined)
    return m
  }
  return { h, store, logs, session, member, refused, accepted: () => accepted }
}

const immediate = async () => await new Promise((resolve) => setImmediate(resolve))
/** until the hub's flush of what this turn queued is done: an ack is queued from a promise callback, after
 * the first immediate was scheduled, so it is flushed before the second */
const turn = async () => { await immediate(); await immediate() }
/** publishes without waiting: the broadcast is queued in this turn */
const post = (store: HubStore, text: string) => { store.publish('r', { from: 'x', text }).catch(t.threw) }
const seqsOf = (frames: Frame[]) => frames.filter((f) => f.type === 'message').map((f) => f.seq)

t.test('frames published while the welcome is prepared arrive after it, in order', async (t) => {
  const { h, store, session, member } = hub(t)
  const { socket: other } = await member('Other')
  await store.publish('r', { from: 'x', text: 'before' })
  const held = gate()
  store.backlogGate = held.opened
  const { s, socket } = session('Late')
  const opening = h.open(s, undefined, undefined)
  await turn() // join done, backlog read (seq 1), held before the welcome goes out
  await store.publish('r', { from: 'x', text: 'during 1' })
  store.listener?.presence({ type: 'join', room: 'r', name: 'Third', ts: 1, key: 'k3' })
  await store.publish('r', { from: 'x', text: 'during 2' })
  await turn()
  t.same(socket.frames(), [], 'nothing before the welcome')
  t.equal(seqsOf(other.frames()).length, 3, 'an open member got them meanwhile')
  held.open()
  await opening
  await turn()
  const frames = socket.frames()
  t.match(frames[0], { type: 'welcome', name: 'Late', seq: 1, epoch: 'E1', history: [{ text: 'before' }] })
  t.same(frames.slice(1).map((f) => f.text ?? f.type), ['during 1', 'join', 'during 2'], 'then the queue, in order')
})

t.test('a message both in the welcome history and in the queue is delivered once', async (t) => {
  const { h, store, session } = hub(t)
  const held = gate()
  store.joinGate = held.opened
  const { s, socket } = session('Resumer')
  const opening = h.open(s, 0, 'E1')
  await turn()
  await store.publish('r', { from: 'x', text: 'one' }) // queued, and in the backlog read after the join
  await store.publish('r', { from: 'x', text: 'two' })
  held.open()
  await opening
  await store.publish('r', { from: 'x', text: 'three' })
  await turn()
  const [welcome, ...rest] = socket.frames()
  t.same((welcome?.history as ChatMessage[]).map((m) => m.seq), [1, 2])
  t.equal(welcome?.truncated, undefined)
  t.same(seqsOf(rest), [3], 'one and two only in the history')
})

t.test('broadcasts of one turn reach a socket in one flush, in order, the same bytes for every member', async (t) => {
  const { store, member } = hub(t)
  const a = new FakeStream()
  const b = new FakeStream()
  await member('A', 'r', new FakeSocket(a))
  await member('B', 'r', new FakeSocket(b))
  const { socket: plain } = await member('C')
  await turn()
  a.ops.length = 0 // the welcomes
  b.ops.length = 0
  const before = plain.sent.length
  post(store, 'm1')
  post(store, 'm2')
  post(store, 'm3')
  t.same(a.ops, [], 'nothing written during the turn')
  t.equal(plain.sent.length, before)
  await turn()
  const texts = (ops: string[]) => ops.map((op) => op === 'cork' || op === 'uncork' ? op : (JSON.parse(op) as Frame).text)
  t.same(texts(a.ops), ['cork', 'm1', 'm2', 'm3', 'uncork'], 'one corked write of three frames')
  t.same(b.ops, a.ops)
  t.same(plain.sent.slice(before).map((s) => (JSON.parse(s) as Frame).text), ['m1', 'm2', 'm3'], 'without a stream: one by one, in order')
  post(store, 'm4')
  await turn()
  t.same(texts(a.ops.slice(5)), ['m4'], 'a lone frame is written without a cork')
})

t.test('presence events reach the other members, not the one they are about', async (t) => {
  const { h, store, session, member } = hub(t)
  const { s: me, socket: mine } = session('Me', 'r', new FakeSocket(), 'u1')
  await h.open(me, undefined, undefined)
  const { socket: other } = await member('Other')
  store.listener?.presence({ type: 'join', room: 'r', name: 'Me', ts: 5, key: 'u:u1', userId: 'u1' })
  store.listener?.presence({ type: 'leave', room: 'elsewhere', name: 'Nobody', ts: 6, key: 'k' })
  await turn()
  t.same(mine.frames().filter((f) => f.type === 'join'), [], 'not told of its own join')
  t.same(other.frames().filter((f) => f.type === 'join' || f.type === 'leave'), [{ type: 'join', room: 'r', name: 'Me', ts: 5, userId: 'u1' }])
})

t.test('acks follow the message they acknowledge; a repeated cid gets the original ack and no broadcast', async (t) => {
  const { h, member, accepted } = hub(t)
  const { s, socket } = await member('Sender')
  const { socket: reader } = await member('Reader')
  h.receive(s, JSON.stringify({ type: 'message', text: 'hi', cid: 'c1' }))
  h.receive(s, 'plain text')
  await turn()
  h.receive(s, JSON.stringify({ type: 'message', text: 'hi', cid: 'c1' }))
  await turn()
  const mine = socket.frames().slice(1)
  t.same(mine.map((f) => f.type), ['message', 'message', 'ack', 'ack'])
  t.match(mine[0], { type: 'message', seq: 1, text: 'hi', from: 'Sender' })
  t.match(mine[1], { type: 'message', seq: 2, text: 'plain text' })
  t.same(mine[2], { type: 'ack', room: 'r', cid: 'c1', seq: 1, id: 'id-1', epoch: 'E1' })
  t.same(mine[3], mine[2], 'the retry is acknowledged as the original')
  t.same(seqsOf(reader.frames()), [1, 2], 'the retry was not broadcast')
  t.equal(accepted(), 3)
})

t.test('bad frames get error frames and are counted as refused', async (t) => {
  const { h, member, refused } = hub(t, { maxLength: 5 })
  const { s, socket } = await member('E')
  h.receive(s, JSON.stringify({ type: 'nope', cid: 'a' }))
  h.receive(s, 'far too long')
  h.receive(s, JSON.stringify({ type: 'message', cid: 'b' }))
  h.receive(s, '{"type":"message","text":"ok","cid":7}')
  h.receive(s, JSON.stringify({ type: 'ping' }))
  h.receive(s, JSON.stringify({ type: 'refresh', token: 'tok' }))
  await turn()
  const frames = socket.frames().slice(1)
  t.match(frames, [
    { type: 'error', code: 'unknown_type', cid: 'a' },
    { type: 'error', code: 'too_long' },
    { type: 'error', code: 'invalid', cid: 'b' },
    { type: 'error', code: 'invalid' },
    { type: 'pong' },
    { type: 'error', code: 'unauthorized' }
  ])
  t.equal(frames.length, 6)
  t.same(refused, ['unknown_type', 'too_long', 'invalid', 'invalid'], 'a refresh without auth is answered, not counted')
  let token = ''
  s.onRefresh = (tok) => { token = tok }
  h.receive(s, JSON.stringify({ type: 'refresh', token: 'fresh' }))
  t.equal(token, 'fresh', 'with auth, a refresh goes to its handler')
})

t.test('a store that cannot publish: unavailable with the cid; only a non-outage failure is logged as an error', async (t) => {
  const { h, store, member, logs, refused } = hub(t)
  const { s, socket } = await member('U')
  store.failNext = new UnavailableError('redis is reconnecting')
  h.receive(s, JSON.stringify({ type: 'message', text: 'a', cid: 'c1' }))
  await turn()
  store.failNext = new Error('script bug')
  h.receive(s, JSON.stringify({ type: 'message', text: 'b', cid: 'c2' }))
  await turn()
  t.match(socket.frames().slice(1), [{ type: 'error', code: 'unavailable', cid: 'c1' }, { type: 'error', code: 'unavailable', cid: 'c2' }])
  t.same(refused, ['unavailable', 'unavailable'])
  t.same(logs.filter((l) => l.level === 'error').map((l) => l.msg), ['publish failed'], 'one error line, for the bug')
})

t.test('the HTTP publish path checks the text and counts', async (t) => {
  const { h, member, refused, accepted } = hub(t, { maxLength: 3 })
  const { socket } = await member('R')
  t.match(await h.publish('r', { from: 'api', text: 'toolong' }), { error: { type: 'error', code: 'too_long' } })
  t.match(await h.publish('r', { from: 'api', text: ' ' }), { error: { code: 'invalid' } })
  t.match(await h.publish('r', { from: 'api', text: 'ok' }), { message: { seq: 1, text: 'ok' }, duplicate: false })
  await turn()
  t.same(seqsOf(socket.frames()), [1])
  t.same(refused, ['too_long', 'invalid'])
  t.equal(accepted(), 1)
})

t.test('rate limit: the burst passes, then rate_limited; a sustained flood is closed with 4000', async (t) => {
  const realNow = Date.now
  t.teardown(() => { Date.now = realNow })
  let clock = 1_000_000
  Date.now = () => clock // the bucket and the flood guard read Date.now: a test clock, restored in teardown
  const { h, member, refused } = hub(t, { ratePerSec: 2, rateBurst: 3 })
  const { s, socket } = await member('F')
  for (let i = 0; i < 4; i++) h.receive(s, JSON.stringify({ type: 'message', text: `b${i}`, cid: `b${i}` }))
  await turn()
  t.match(socket.frames().filter((f) => f.type === 'error'), [{ code: 'rate_limited', cid: 'b3' }], 'the fourth of a burst of 3')
  t.same(socket.closes, [], 'a burst is not a flood')
  const start = clock
  let closedAt = -1
  for (let step = 0; step < 200 && closedAt < 0; step++) { // 10 a second, five times the rate
    clock += 100
    h.receive(s, 'spam')
    if (socket.closes.length > 0) closedAt = clock - start
  }
  Date.now = realNow
  t.same(socket.closes, [[4000, 'rate limit exceeded']])
  t.equal(s.conn.endedBy, 'flood')
  t.ok(closedAt >= 3000 && closedAt < 6000, `closed after ${closedAt} ms of flooding`)
  t.ok(refused.every((c) => c === 'rate_limited') && refused.length > 10)
})

t.test('the message budget is the client\'s: shared by its sockets, not refilled by a new one', async (t) => {
  const { h, session, refused } = hub(t, { ratePerSec: 0.001, rateBurst: 3, ipv6PrefixBits: 64 })
  const open = async (name: string, ip: string, userId?: string) => {
    const m = session(name, 'r', new FakeSocket(), userId, ip)
    await h.open(m.s, undefined, undefined)
    return m
  }
  const send = (s: ChatSession, n: number) => { for (let i = 0; i < n; i++) h.receive(s, JSON.stringify({ type: 'message', text: 'x' })) }
  const a = await open('A', '2001:db8::1')
  const b = await open('B', '2001:db8::2') // the same /64
  send(a.s, 2)
  send(b.s, 2)
  t.same(refused, ['rate_limited'], 'four messages from one client: the fourth is over its burst of 3')
  h.close(a.s)
  h.close(b.s)
  const again = await open('A2', '2001:db8::1')
  send(again.s, 1)
  t.same(refused, ['rate_limited', 'rate_limited'], 'reconnecting does not refill the budget')
  const other = await open('C', '2001:db8:0:1::1')
  send(other.s, 3)
  t.equal(refused.length, 2, 'another /64 has its own budget')
  const ann1 = await open('Ann', '10.0.0.1', 'ann')
  const ann2 = await open('Ann', '10.0.0.2', 'ann')
  const bob = await open('Bob', '10.0.0.1', 'bob')
  send(ann1.s, 2)
  send(ann2.s, 2)
  send(bob.s, 3)
  t.equal(refused.length, 3, 'an authenticated user\'s sockets share one budget, whatever their address; another user on that address has their own')
})

t.test('refresh frames spend from the message budget', async (t) => {
  const { h, session } = hub(t, { ratePerSec: 0.001, rateBurst: 2 })
  const { s, socket } = session('R', 'r', new FakeSocket(), 'ann')
  await h.open(s, undefined, undefined)
  const tokens: string[] = []
  s.onRefresh = (token) => { tokens.push(token) }
  h.receive(s, JSON.stringify({ type: 'message', text: 'hi' }))
  h.receive(s, JSON.stringify({ type: 'refresh', token: 't1' }))
  h.receive(s, JSON.stringify({ type: 'refresh', token: 't2' }))
  await turn()
  t.same(tokens, ['t1'], 'the refresh over the budget is not verified')
  t.match(socket.frames().filter((f) => f.type === 'error'), [{ code: 'rate_limited' }])
  h.receive(s, JSON.stringify({ type: 'message', text: 'after' }))
  await turn()
  t.equal(socket.frames().filter((f) => f.type === 'error').length, 2, 'and a message after it finds the budget spent')
})

t.test('a slow consumer is closed with 4001, then cut off if its close does not complete', async (t) => {
  const { h, store, member, logs } = hub(t, { sendBufferLimit: 1000 })
  const { s: polite, socket: politeSocket } = await member('Polite') // closes cleanly once asked
  politeSocket.onClosed = () => h.close(polite)
  const { s: stuck, socket: stuckSocket } = await member('Stuck')
  const { socket: fine } = await member('Fine')
  await turn()
  politeSocket.bufferedAmount = 2000
  stuckSocket.bufferedAmount = 2000
  const sentBefore = stuckSocket.sent.length
  post(store, 'm1')
  await turn()
  post(store, 'm2')
  await turn()
  t.same(stuckSocket.closes, [[4001, 'slow consumer']], 'closed once, however many frames it is owed')
  t.same(politeSocket.closes, [[4001, 'slow consumer']])
  t.equal(stuckSocket.sent.length, sentBefore, 'nothing more queued to it')
  t.equal(stuck.conn.endedBy, 'slow consumer')
  t.same(seqsOf(fine.frames()), [1, 2], 'the others are not held back')
  t.ok(logs.some((l) => l.level === 'warn' && l.msg === 'slow consumer: closing'))
  t.equal(stuckSocket.terminated, false, 'the close frame gets its grace')
  // both grace timers started in the same flush, the polite one first: had its close not cleared it,
  // it would have fired before this one
  // the hub's grace timer is unref'd: this one keeps the test alive meanwhile, and bounds the wait
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    once(stuckSocket, 'terminated'),
    new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error('never terminated')), 5000) })
  ])
  clearTimeout(timer)
  t.equal(politeSocket.terminated, false, 'a completed close is not cut off')
})

t.test('a join that fails closes the socket with 4003; a socket gone during the join leaves again', async (t) => {
  const { h, store, session, logs } = hub(t)
  store.joinFails = new UnavailableError('down')
  const { s, socket } = session('Down')
  await h.open(s, undefined, undefined)
  t.same(socket.closes, [[4003, 'hub unavailable']])
  t.same(socket.frames(), [], 'no welcome')
  t.ok(logs.some((l) => l.level === 'error' && l.msg === 'chat join failed'))
  // the room cap passed at the upgrade, then the last place went to another instance before the join
  store.joinFails = new RoomLimitError('room limit reached')
  const { s: late, socket: lateSocket } = session('Late')
  await h.open(late, undefined, undefined)
  t.same(lateSocket.closes, [[4003, 'room limit reached']], 'the same code, the reason naming the limit')
  t.equal(late.conn.endedBy, 'room limit')
  t.ok(logs.some((l) => l.level === 'warn' && l.msg === 'chat join refused: room limit reached'), 'a warning, not an error')
  store.joinFails = undefined
  const held = gate()
  store.joinGate = held.opened
  const { s: gone, socket: goneSocket } = session('Gone')
  const opening = h.open(gone, undefined, undefined)
  h.close(gone) // the socket closed while its join was in flight
  held.open()
  await opening
  t.same(store.left.map((m) => m.name), ['Gone'], 'its join is undone')
  t.same(goneSocket.frames(), [])
})

t.test('a subscribe that comes while one to the same room is under way waits for it, then resumes', async (t) => {
  const { h, store } = hub(t)
  const held = gate()
  store.joinGate = held.opened
  const socket = new FakeSocket()
  const s = new ChatSession(new Connection(socket, { route: 'hub', ip: '127.0.0.1', userAgent: 'test', userId: 'nina' }), undefined, 'Nina', h.options)
  t.teardown(() => h.close(s))
  const opening = h.open(s, undefined, undefined) // the personal stream's own subscribe, held in its join
  // the client resumes its stream at once, with where it was
  h.receive(s, '{"type":"subscribe","ref":1,"room":"@nina","since":0,"epoch":"E0"}')
  h.receive(s, '{"type":"subscribe","ref":2,"room":"@nina"}')
  held.open()
  await opening
  await waitFor(() => socket.frames().filter((f) => f.type === 'subscribed').length === 2, 'both subscribed frames')
  await turn()
  const frames = socket.frames()
  t.match(frames.filter((f) => f.type === 'subscribed'), [{ room: '@nina', ref: undefined }, { room: '@nina', ref: 1, truncated: true }],
    "the server's own first, then the client's, with its own since and epoch (another epoch: truncated)")
  t.match(frames.filter((f) => f.type === 'error'), [{ ref: 2, code: 'invalid' }], 'one request waits, a third is refused')
  t.equal(store.joined.length - store.left.length, 1, 'in the store once')
})

t.test('closing a session leaves the room once and stops deliveries to it', async (t) => {
  const { h, store, member } = hub(t)
  const { s, socket } = await member('Leaver')
  h.close(s)
  h.close(s)
  await store.publish('r', { from: 'x', text: 'after' })
  await turn()
  t.same(store.left.map((m) => m.name), ['Leaver'])
  t.same(seqsOf(socket.frames()), [])
  h.sendTo(s, { type: 'refreshed' })
  await turn()
  t.equal(socket.frames().length, 1, 'only the welcome: nothing is sent to a closed session')
})

t.test('the frame check of the suite refuses a frame its schema does not allow', async (t) => {
  t.equal(frameProblem('{"type":"pong","ts":1}'), undefined)
  t.match(frameProblem('{"type":"pong"}'), /ts/, 'a missing field')
  t.match(frameProblem('{"type":"error","code":"nope","message":"m"}'), /code/, 'an unknown error code')
  t.match(frameProblem('{"type":"mystery"}'), /no schema/)
  t.match(frameProblem('{'), /not JSON/)
  const failures: string[] = []
  const fake = { fail: (msg: string) => { failures.push(msg) } } as unknown as Test
  const target: { tap: ((json: string) => void) | undefined } = { tap: undefined }
  checkFrames(fake, target)
  target.tap?.('{"type":"ack"}')
  t.match(failures, [/schema refuses/], 'an invalid frame fails the test that sent it')
})
