// RealtimeClient's logic against a scripted WebSocket (injected through the `WebSocket` option): the test plays
// the /ws/hub server frame by frame. The same client against the real server: test/e2e/hub-client.test.ts.
import t from 'tap'
import { RealtimeClient, RealtimeError, type HubMessage, type RoomInfo } from '../../src/client/realtime-client.js'
import { webSocketClass, type StateDetail } from '../../src/client/realtime-socket.js'
import { hubCloseAdvice } from '../../src/client/token.js'
import type { WireMessage } from '../../src/client/hub-types.js'
import { waitFor } from '../helper.js'

class ScriptedWS {
  static readonly OPEN = 1
  static all: ScriptedWS[] = []
  readyState = 0
  sent: Array<Record<string, unknown>> = []
  onopen: (() => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number, reason: string }) => void) | null = null
  constructor (readonly url: string) { ScriptedWS.all.push(this) }
  send (data: string): void { this.sent.push(JSON.parse(data) as Record<string, unknown>) }
  close (): void { this.readyState = 3 }
  open (): void { this.readyState = 1; this.onopen?.() }
  receive (frame: unknown): void { this.onmessage?.({ data: JSON.stringify(frame) }) }
  serverClose (code: number, reason = ''): void { this.readyState = 3; this.onclose?.({ code, reason }) }
  /** the last frame of `type` this socket sent */
  lastOf (type: string): Record<string, unknown> {
    const f = this.sent.filter((s) => s.type === type).pop()
    if (f === undefined) throw new Error(`no ${type} frame sent`)
    return f
  }
}
const WS = ScriptedWS as unknown as typeof WebSocket
const last = (): ScriptedWS => ScriptedWS.all[ScriptedWS.all.length - 1]!
t.beforeEach(() => { ScriptedWS.all = [] })

const msg = (room: string, seq: number, extra: Partial<WireMessage> = {}): WireMessage =>
  ({ type: 'message', room, seq, id: `${room}-${seq}`, from: 'ann', ts: 1_700_000_000_000 + seq, text: `m${seq}`, ...extra })

function subscribed (ws: ScriptedWS, room: string, seq: number, history: WireMessage[], extra: Record<string, unknown> = {}): void {
  const sub = ws.sent.filter((s) => s.type === 'subscribe' && s.room === room).pop()!
  ws.receive({ type: 'subscribed', ref: sub.ref, room, seq, epoch: 'E1', members: ['ann'], memberCount: 1, history, ...extra })
}

function client (opts: ConstructorParameters<typeof RealtimeClient>[0] = {}): RealtimeClient {
  const c = new RealtimeClient({ url: 'ws://h/ws/hub', WebSocket: WS, backoff: { baseMs: 1, capMs: 2, minMs: 1 }, ...opts })
  t.teardown(() => c.close())
  return c
}

t.test('subscribe several rooms on one socket; history then live, each message once', async (t) => {
  const c = client({ name: 'Ann' })
  const seen: Record<string, number[]> = { a: [], b: [] }
  const infos: RoomInfo[] = []
  const a = c.subscribe('a', { message: (m) => seen.a!.push(m.seq), subscribed: (i) => infos.push(i) })
  c.connect()
  t.equal(last().url, 'ws://h/ws/hub?name=Ann')
  const b = c.subscribe('b', { message: (m) => seen.b!.push(m.seq) })
  t.same(last().sent, [], 'nothing goes before the socket opens')
  last().open()
  t.same(last().sent.map((f) => [f.type, f.room, f.since]), [['subscribe', 'a', undefined], ['subscribe', 'b', undefined]])
  t.not(last().sent[0]!.ref, last().sent[1]!.ref, 'each request has its own ref')
  subscribed(last(), 'a', 2, [msg('a', 1), msg('a', 2)])
  subscribed(last(), 'b', 0, [])
  t.match(await a, { room: 'a', seq: 2, epoch: 'E1', resumed: false, truncated: false, memberCount: 1 })
  await b
  last().receive(msg('a', 2)) // overlaps the history
  last().receive(msg('a', 3))
  last().receive(msg('b', 1))
  last().receive(msg('a', 3))
  t.same(seen, { a: [1, 2, 3], b: [1] })
  t.same(c.position('a'), { since: 3, epoch: 'E1' })
  t.equal(infos.length, 1)
  t.same(c.rooms, ['a', 'b'])
})

t.test('after a drop each room resumes from its own position; truncated history is reported as a gap', async (t) => {
  const c = client()
  const seen: Array<string | number> = []
  const gaps: string[] = []
  const infos: RoomInfo[] = []
  c.subscribe('a', { message: (m) => seen.push(m.seq), gap: (r) => gaps.push(r), subscribed: (i) => infos.push(i) }).catch(() => {})
  c.subscribe('b', {}).catch(() => {})
  c.connect()
  last().open()
  subscribed(last(), 'a', 5, [msg('a', 4), msg('a', 5)])
  subscribed(last(), 'b', 9, [msg('b', 9)])
  last().serverClose(1006)
  t.equal(c.state, 'CLOSED')
  await waitFor(() => ScriptedWS.all.length === 2, 'a reconnect after the backoff')
  last().open()
  t.same(last().sent.map((f) => [f.room, f.since, f.epoch]), [['a', 5, 'E1'], ['b', 9, 'E1']], 'since/epoch per room')
  subscribed(last(), 'a', 7, [msg('a', 6), msg('a', 7)])
  t.same(seen, [4, 5, 6, 7], 'the resume fills the hole, no duplicates')
  t.equal(infos[1]?.resumed, true)
  // the server lost the room meanwhile: a new epoch, truncated
  last().serverClose(4003, 'server overloaded')
  await waitFor(() => ScriptedWS.all.length === 3, 'a reconnect after 4003')
  last().open()
  subscribed(last(), 'a', 1, [{ ...msg('a', 1), id: 'new-1' }], { epoch: 'E2', truncated: true })
  t.equal(gaps.length, 1, 'one gap')
  t.match(gaps[0], /restarted/)
  t.same(seen, [4, 5, 6, 7, 1])
  t.equal(infos[2]?.truncated, true)
  t.same(c.position('a'), { since: 1, epoch: 'E2' })
})

t.test('subscribe from a saved position; a refused subscribe rejects and drops the room', async (t) => {
  const c = client()
  const errors: RealtimeError[] = []
  const p = c.subscribe('a', {}, { since: 41, epoch: 'E0' })
  const again = c.subscribe('a', {}) // before the answer: settles with the first
  const refused = c.subscribe('secret', { error: (e) => errors.push(e) })
  c.connect()
  last().open()
  t.match(last().sent[0], { type: 'subscribe', room: 'a', since: 41, epoch: 'E0' })
  const sub = last().lastOf('subscribe')
  last().receive({ type: 'error', ref: sub.ref, code: 'forbidden', message: 'not for you' })
  await t.rejects(refused, { name: 'RealtimeError', code: 'forbidden', room: 'secret' })
  t.equal(errors.length, 1)
  t.same(c.rooms, ['a'])
  subscribed(last(), 'a', 41, [])
  await p
  t.match(await again, { room: 'a', seq: 41 })
  t.equal(last().sent.filter((f) => f.type === 'subscribe' && f.room === 'a').length, 1, 'one subscribe frame')
})

t.test('the server leaving a room (a refreshed token no longer allows it) drops the room and its waiting publishes', async (t) => {
  const c = client()
  const errors: RealtimeError[] = []
  const a = c.subscribe('a', {})
  const team = c.subscribe('team', { error: (e) => errors.push(e) })
  c.connect()
  last().open()
  subscribed(last(), 'a', 0, [])
  subscribed(last(), 'team', 0, [])
  await Promise.all([a, team])
  const waiting = c.publish('team', { event: 'note', data: { n: 1 } })
  last().receive({ type: 'unsubscribed', room: 'team', code: 'forbidden' })
  await t.rejects(waiting, { name: 'RealtimeError', code: 'forbidden', room: 'team' }, 'its publish still waiting is rejected')
  t.match(errors, [{ code: 'forbidden', room: 'team' }], "the room's error handler is told")
  t.same(c.rooms, ['a'], 'the room is dropped')
  last().serverClose(1001)
  await waitFor(() => ScriptedWS.all.length === 2)
  last().open()
  t.same(last().sent.filter((f) => f.type === 'subscribe').map((f) => f.room), ['a'], 'and not subscribed again after a reconnect')
})

t.test('publish: settled by its ack, kept across a reconnect with its cid, retried when rate limited', async (t) => {
  const c = client()
  const outbox: number[] = []
  c.addEventListener('outbox', (ev) => outbox.push((ev as CustomEvent<number>).detail))
  await t.rejects(c.publish('a', { text: 'x' }), { code: 'not_subscribed' }, 'no room, no publish')
  c.subscribe('a', {}).catch(() => {})
  c.connect()
  const early = c.publish('a', { text: 'typed before the socket opened' })
  last().open()
  t.equal(last().sent.length, 1, 'only the subscribe: a publish waits for its room')
  subscribed(last(), 'a', 0, [])
  const pub = last().lastOf('publish')
  t.match(pub, { type: 'publish', room: 'a', text: 'typed before the socket opened' })
  t.type(pub.cid, 'string')
  last().receive({ type: 'ack', ref: pub.ref, room: 'a', seq: 1, id: 'i1', epoch: 'E1', cid: pub.cid })
  t.same(await early, { room: 'a', seq: 1, id: 'i1', epoch: 'E1', cid: pub.cid })

  const lost = c.publish('a', { text: 'in flight when the socket drops' })
  const first = last().lastOf('publish')
  last().serverClose(1001, 'server shutting down')
  await waitFor(() => ScriptedWS.all.length === 2, 'a reconnect after 1001')
  last().open()
  subscribed(last(), 'a', 1, [])
  const again = last().lastOf('publish')
  t.equal(again.cid, first.cid, 'the same cid: the server dedupes it')
  t.not(again.ref, first.ref)
  last().receive({ type: 'error', ref: again.ref, code: 'rate_limited', message: 'slow down' })
  await waitFor(() => last().sent.filter((f) => f.type === 'publish').length === 2, 'the retry after rate_limited')
  const third = last().lastOf('publish')
  t.equal(third.cid, first.cid)
  last().receive({ type: 'ack', ref: third.ref, room: 'a', seq: 2, id: 'i2', epoch: 'E1', cid: first.cid })
  t.match(await lost, { seq: 2 })

  const tooLong = c.publish('a', { text: 'x'.repeat(10) })
  last().receive({ type: 'error', ref: last().lastOf('publish').ref, code: 'too_long', message: 'text is longer than 5 characters' })
  await t.rejects(tooLong, { code: 'too_long', message: 'text is longer than 5 characters' })
  t.equal(c.pending, 0)
  t.equal(outbox[outbox.length - 1], 0)

  const orphan = t.rejects(c.publish('a', { text: 'never acked' }), { code: 'not_subscribed' })
  const left = c.unsubscribe('a')
  const unsub = last().lastOf('unsubscribe')
  last().receive({ type: 'unsubscribed', ref: unsub.ref, room: 'a' })
  await left
  await orphan
  const closing = (() => { c.subscribe('b').catch(() => {}); return c.publish('b', { text: 'pending at close' }) })()
  c.close()
  await t.rejects(closing, { code: 'closed' })
})

t.test('typed events: data typed by event name; signals to a room', async (t) => {
  interface Events { price: { usd: number }, typing: { on: boolean } }
  const c = new RealtimeClient<Events>({ url: 'ws://h/ws/hub', WebSocket: WS })
  t.teardown(() => c.close())
  const prices: number[] = []
  const typing: Array<[string, boolean]> = []
  const room = c.subscribe('a', {
    message: (m: HubMessage<Events>) => { if (m.event === 'price') prices.push(m.data.usd) },
    signal: (s) => { if (s.event === 'typing') typing.push([s.from, s.data.on]) }
  })
  t.equal(c.signal('a', 'typing', { on: true }), false, 'not sent before the room is subscribed')
  c.connect()
  last().open()
  subscribed(last(), 'a', 0, [])
  await room
  t.equal(c.signal('a', 'typing', { on: true }), true)
  t.match(last().lastOf('signal'), { type: 'signal', room: 'a', event: 'typing', data: { on: true } })
  // @ts-expect-error: the data of `price` is { usd: number }
  c.publish('a', { event: 'price', data: { eur: 1 } }).catch(() => {})
  const p = c.publish('a', { event: 'price', data: { usd: 3 } })
  const f = last().lastOf('publish')
  t.match(f, { event: 'price', data: { usd: 3 } })
  t.notOk('text' in f)
  last().receive({ type: 'ack', ref: f.ref, room: 'a', seq: 1, id: 'i1', epoch: 'E1' })
  await p
  last().receive(msg('a', 1, { event: 'price', data: { usd: 3 }, text: undefined }))
  last().receive({ type: 'signal', room: 'a', from: 'bob', event: 'typing', data: { on: true } })
  t.same(prices, [3])
  t.same(typing, [['bob', true]])
})

t.test('close codes decide alone: 4500-4999 and protocol errors stop, 4000-4499 and 1001 reconnect', async (t) => {
  t.same([4000, 4001, 4002, 4003, 4499, 1001, 1006, 1011, 1013].map(hubCloseAdvice), Array(9).fill('reconnect'))
  t.same([4500, 4501, 4999, 1000, 1002, 1003, 1007, 1009].map(hubCloseAdvice), Array(8).fill('stop'))
  const c = client()
  const states: StateDetail[] = []
  c.addEventListener('state', (ev) => states.push((ev as CustomEvent<StateDetail>).detail))
  c.connect()
  last().open()
  last().serverClose(4500, 'closed by an administrator')
  t.match(states[states.length - 1], { state: 'CLOSED', retryAt: undefined, stopped: { code: 4500, reason: 'closed by an administrator' } })
  await new Promise((resolve) => setTimeout(resolve, 20)) // an absence: the backoff here is 1-2 ms
  t.equal(ScriptedWS.all.length, 1, 'kicked: no reconnect')
  c.connect()
  last().open()
  last().serverClose(1009, 'too big')
  t.equal(c.socket.stopped?.code, 1009)
})

t.test('a token source is asked before each handshake and when the token is expiring; 4002 gets a fresh one', async (t) => {
  let n = 0
  const c = client({ token: async () => `T${++n}` })
  const refreshed: number[] = []
  c.addEventListener('refreshed', (ev) => refreshed.push((ev as CustomEvent<number>).detail))
  c.connect()
  t.equal(c.state, 'CONNECTING', 'while the token is fetched')
  await waitFor(() => ScriptedWS.all.length === 1, 'the handshake')
  t.equal(last().url, 'ws://h/ws/hub?token=T1')
  last().open()
  last().receive({ type: 'expiring', in: 30_000 })
  await waitFor(() => last().sent.some((f) => f.type === 'refresh'), 'the refresh frame')
  t.match(last().lastOf('refresh'), { token: 'T2' })
  last().receive({ type: 'refreshed', exp: 99 })
  t.same(refreshed, [99])
  last().serverClose(4002, 'token expired')
  await waitFor(() => ScriptedWS.all.length === 2, 'a reconnect with a fresh token')
  t.equal(last().url, 'ws://h/ws/hub?token=T3')
})

t.test('no WebSocket anywhere: a clear error; the global one is the default', async (t) => {
  const saved = globalThis.WebSocket
  t.teardown(() => { Object.assign(globalThis, { WebSocket: saved }) })
  Object.assign(globalThis, { WebSocket: undefined })
  t.throws(() => new RealtimeClient({ url: 'ws://h/ws/hub' }), /no WebSocket constructor.*`WebSocket`/)
  t.throws(() => new RealtimeClient({ WebSocket: WS }), /needs the `url` option outside a browser/)
  Object.assign(globalThis, { WebSocket: WS })
  t.equal(webSocketClass(), WS)
})

t.test('memory stays bounded: a long-lived room keeps no transcript', async (t) => {
  const c = client()
  let count = 0
  c.subscribe('a', { message: () => { count++ } }).catch(() => {})
  c.connect()
  last().open()
  subscribed(last(), 'a', 0, [])
  for (let i = 1; i <= 10_000; i++) last().receive(msg('a', i))
  t.equal(count, 10_000)
  last().receive(msg('a', 9_990))
  t.equal(count, 10_000, 'a replayed message is still a duplicate')
  t.same(c.position('a'), { since: 10_000, epoch: 'E1' })
})

t.test('a message for a room not subscribed here (the @user stream) is a client event', async (t) => {
  const c = client()
  const pushed: WireMessage[] = []
  c.addEventListener('message', (ev) => pushed.push((ev as CustomEvent<WireMessage>).detail))
  c.connect()
  last().open()
  last().receive(msg('@ann', 1))
  t.equal(pushed[0]?.room, '@ann')
  t.ok(RealtimeError)
})
