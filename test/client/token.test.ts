import t from 'tap'
import { closeAction, newTokenAction, refreshFrame, ticketAnswer, tokenFrame, withTicket, withToken } from '../../src/client/token.js'
import { RealtimeSocket, type StateDetail } from '../../src/client/realtime-socket.js'
import { ChatClient } from '../../src/client/chat-client.js'
import { waitFor } from '../helper.js'

t.test('withToken: appended URL-encoded, only when there is one', async (t) => {
  t.equal(withToken('ws://h/ws/time', 'a.b-c_d'), 'ws://h/ws/time?token=a.b-c_d')
  t.equal(withToken('ws://h/ws/chat/r?name=Ann', 'x y&z=1'), 'ws://h/ws/chat/r?name=Ann&token=x%20y%26z%3D1')
  t.equal(withToken('ws://h/ws/chat/r?', 'T'), 'ws://h/ws/chat/r?token=T', 'no "?&" after an empty query')
  t.equal(withToken('ws://h/ws/echo', undefined), 'ws://h/ws/echo')
  t.equal(withToken('ws://h/ws/echo', ''), 'ws://h/ws/echo')
  t.same(JSON.parse(refreshFrame('T2')), { type: 'refresh', token: 'T2' })
})

t.test('newTokenAction: refresh frame when open, reconnect for echo, retry a refusal, else wait', async (t) => {
  const s = { open: true, refused: false, stopped: false }
  t.equal(newTokenAction(s, 'frame'), 'refresh')
  t.equal(newTokenAction(s, 'reconnect'), 'reconnect')
  t.equal(newTokenAction({ ...s, open: false }, 'frame'), 'none', 'connecting or backing off: the next handshake carries it')
  t.equal(newTokenAction({ ...s, open: false, refused: true }, 'frame'), 'connect')
  t.equal(newTokenAction({ ...s, open: false, refused: true }, 'reconnect'), 'connect')
  t.equal(newTokenAction({ ...s, open: false, stopped: true }, 'frame'), 'none', 'closed on purpose: stays closed')
})

t.test('closeAction: token expired reconnects at once only with a newer token', async (t) => {
  const c = { deliberate: false, opened: true, code: 4002, reason: 'token expired', newerToken: true }
  t.equal(closeAction(c), 'reconnect')
  t.equal(closeAction({ ...c, newerToken: false }), 'probe', 'the next handshake would get 401: learn it now')
  t.equal(closeAction({ ...c, reason: 'rate limit exceeded' }), 'backoff')
  t.equal(closeAction({ ...c, code: 1006, reason: '' }), 'backoff')
  t.equal(closeAction({ ...c, opened: false, code: 1006, reason: '' }), 'probe', 'a refused handshake')
  t.equal(closeAction({ ...c, deliberate: true }), 'stop')
})

t.test('tokenFrame: picks expiring/refreshed/unauthorized, ignores the rest', async (t) => {
  t.same(tokenFrame('{"type":"expiring","in":30000}'), { type: 'expiring', in: 30000 })
  t.same(tokenFrame('{"type":"refreshed","exp":1795577660}'), { type: 'refreshed', exp: 1795577660 })
  t.same(tokenFrame('{"type":"error","code":"unauthorized","message":"bad token"}'), { type: 'error', code: 'unauthorized', message: 'bad token' })
  t.equal(tokenFrame('{"type":"message","text":"\\"expiring\\""}'), undefined, 'a chat text that mentions it')
  t.equal(tokenFrame('{"type":"error","code":"rate_limited"}'), undefined)
  t.equal(tokenFrame('{"type":"expiring","in":"soon"}'), undefined)
  t.equal(tokenFrame('{"expiring"'), undefined, 'not JSON')
  t.equal(tokenFrame('null'), undefined)
  t.equal(tokenFrame(new ArrayBuffer(2)), undefined)
})

// A stand-in for the browser's WebSocket: records what the client does, lets the test play the server.
class FakeWS {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSING = 2
  static readonly CLOSED = 3
  static all: FakeWS[] = []
  readyState = 0
  binaryType = 'blob'
  sent: string[] = []
  closedWith: [number, string] | undefined
  onopen: (() => void) | null = null
  onmessage: ((ev: { data: unknown }) => void) | null = null
  onclose: ((ev: { code: number, reason: string }) => void) | null = null
  constructor (readonly url: string) { FakeWS.all.push(this) }
  send (data: string): void { this.sent.push(data) }
  close (code: number, reason: string): void { this.closedWith = [code, reason]; this.readyState = 3 }
  open (): void { this.readyState = 1; this.onopen?.() }
  receive (frame: unknown): void { this.onmessage?.({ data: JSON.stringify(frame) }) }
  serverClose (code: number, reason: string): void { this.readyState = 3; this.onclose?.({ code, reason }) }
}

const last = (): FakeWS => FakeWS.all[FakeWS.all.length - 1]!
const probes: string[] = []

t.beforeEach(() => { FakeWS.all = []; probes.length = 0 })
const saved = { WebSocket: globalThis.WebSocket, fetch: globalThis.fetch }
Object.assign(globalThis, {
  WebSocket: FakeWS,
  // the refusal probe: the server answers 401 for the handshake's URL
  fetch: async (url: string) => {
    probes.push(url)
    return new Response(JSON.stringify({ statusCode: 401, error: 'Unauthorized', message: 'token expired' }), { status: 401 })
  }
})
t.teardown(() => { Object.assign(globalThis, saved) })

function events (target: EventTarget, type: string): unknown[] {
  const got: unknown[] = []
  target.addEventListener(type, (ev) => got.push((ev as CustomEvent).detail))
  return got
}

async function refusedState (target: EventTarget): Promise<StateDetail> {
  return await new Promise((resolve) => {
    target.addEventListener('state', (ev) => {
      const d = (ev as CustomEvent<StateDetail>).detail
      if (d.refused !== undefined) resolve(d)
    })
  })
}

t.test('chat: token in the URL, refresh frame on setToken, events, resume with the new token', async (t) => {
  const chat = new ChatClient('lobby', { base: 'ws://h', name: 'Ann', token: 'T1' })
  t.teardown(() => chat.close())
  const [expiring, refreshed, failed] = [events(chat, 'expiring'), events(chat, 'refreshed'), events(chat, 'refreshfailed')]
  chat.connect()
  t.equal(last().url, 'ws://h/ws/chat/lobby?name=Ann&token=T1')
  last().open()
  last().receive({ type: 'welcome', name: 'Alice', userId: 'alice', room: 'lobby', members: ['Alice'], seq: 4, epoch: 'E', history: [{ type: 'message', id: 'i4', room: 'lobby', seq: 4, from: 'Bob', userId: 'bob', text: 'hi', ts: 1 }] })
  t.equal(chat.userId, 'alice')
  t.equal(chat.name, 'Alice', 'the name claim wins over ?name=')

  last().receive({ type: 'expiring', in: 30000 })
  t.same(expiring, [30000])
  chat.setToken('T2')
  t.same(last().sent.map((s) => JSON.parse(s)), [{ type: 'refresh', token: 'T2' }])
  last().receive({ type: 'refreshed', exp: 1795577660 })
  t.same(refreshed, [1795577660])
  chat.setToken('T2')
  t.equal(last().sent.length, 1, 'the token the server holds already: no second refresh')

  chat.setToken('T3-other-user')
  last().receive({ type: 'error', code: 'unauthorized', message: 'token is for another user' })
  t.same(failed, ['token is for another user'])

  // a network drop: the reconnect resumes where it was and carries the latest token
  last().serverClose(1006, '')
  t.equal(FakeWS.all.length, 1, 'a plain drop backs off')
  t.ok(chat.socket.retryAt)
  chat.socket.connect() // skip the backoff wait
  t.equal(last().url, 'ws://h/ws/chat/lobby?name=Alice&since=4&epoch=E&token=T3-other-user')
})

t.test('setToken during the handshake: the refresh goes out once it opens', async (t) => {
  const time = new RealtimeSocket(() => 'ws://h/ws/time', { token: 'T1' })
  t.teardown(() => time.close())
  time.connect()
  time.setToken('T2')
  t.same(last().sent, [], 'nothing can be sent yet')
  last().open()
  t.same(last().sent.map((s) => JSON.parse(s)), [{ type: 'refresh', token: 'T2' }])
})

t.test('close 4002 "token expired" with a newer token set: reconnect at once with it', async (t) => {
  const time = new RealtimeSocket(() => 'ws://h/ws/time', { token: 'T1' })
  t.teardown(() => time.close())
  time.connect()
  last().open()
  time.setToken('T2') // e.g. its refresh frame crossed the server's close
  last().serverClose(4002, 'token expired')
  t.equal(FakeWS.all.length, 2, 'no backoff')
  t.equal(last().url, 'ws://h/ws/time?token=T2')
  t.same(probes, [])
})

t.test('close 4002 "token expired" without a newer token: refused 401, no retry loop; a new token revives it', async (t) => {
  const time = new RealtimeSocket(() => 'ws://h/ws/time', { token: 'T1' })
  t.teardown(() => time.close())
  time.connect()
  last().open()
  const refused = refusedState(time)
  last().serverClose(4002, 'token expired')
  t.same(await refused, { state: 'CLOSED', retryAt: undefined, refused: { status: 401, message: 'token expired' } })
  t.same(probes, ['http://h/ws/time?token=T1'], 'asked with the same URL over HTTP')
  t.equal(FakeWS.all.length, 1)
  time.setToken('T2')
  t.equal(FakeWS.all.length, 2, 'a refused socket tries again at once with a new token')
  t.equal(last().url, 'ws://h/ws/time?token=T2')
  t.equal(time.refused, undefined)
})

t.test('a refusal of a token replaced while the probe ran: try the new one', async (t) => {
  const time = new RealtimeSocket(() => 'ws://h/ws/time', { token: 'T1' })
  t.teardown(() => time.close())
  time.connect()
  last().serverClose(1006, '') // refused handshake
  time.setToken('T2') // before the probe answers
  await waitFor(() => FakeWS.all.length === 2, 'a second socket')
  t.equal(FakeWS.all.length, 2)
  t.equal(last().url, 'ws://h/ws/time?token=T2')
  t.equal(time.refused, undefined)
})

t.test('echo (refresh: reconnect): a new token reconnects at once, no refresh frame, no token events', async (t) => {
  const echo = new RealtimeSocket(() => 'ws://h/ws/echo', { token: 'T1', refresh: 'reconnect' })
  t.teardown(() => echo.close())
  const closes = events(echo, 'close')
  const expiring = events(echo, 'expiring')
  echo.connect()
  const first = last()
  first.open()
  first.receive({ type: 'expiring', in: 5 }) // an echoed frame, not the server's
  t.same(expiring, [])
  echo.setToken('T2')
  t.same(first.sent, [])
  t.same(first.closedWith, [1000, 'token changed'])
  t.same(closes, [{ code: 1000, reason: 'token changed' }])
  t.equal(last().url, 'ws://h/ws/echo?token=T2')
  first.serverClose(1000, 'token changed') // the old socket's late close is ignored
  t.equal(FakeWS.all.length, 2)
})

t.test('a deliberately closed socket keeps the token for its next connect()', async (t) => {
  const time = new RealtimeSocket(() => 'ws://h/ws/time')
  time.connect()
  t.equal(last().url, 'ws://h/ws/time', 'no token: the URL is as before')
  last().open()
  time.close()
  time.setToken('T9')
  t.equal(FakeWS.all.length, 1)
  time.connect()
  t.equal(last().url, 'ws://h/ws/time?token=T9')
  time.close()
})

t.test('tickets: appended like a token; what the ticket endpoint\'s status means', async (t) => {
  t.equal(withTicket('ws://h/ws/chat/r?name=Ann', 'abc_-1'), 'ws://h/ws/chat/r?name=Ann&ticket=abc_-1')
  t.equal(withTicket('ws://h/ws/echo', undefined), 'ws://h/ws/echo')
  t.equal(ticketAnswer(201), 'ticket')
  t.equal(ticketAnswer(404), 'none', 'auth is off: connect without one')
  t.equal(ticketAnswer(401), 'refused')
  t.equal(ticketAnswer(403), 'refused')
  t.equal(ticketAnswer(429), 'retry', 'too many unused tickets passes')
  t.equal(ticketAnswer(503), 'retry')
})
