import { generateKeyPairSync } from 'node:crypto'
import { once } from 'node:events'
import t, { type Test } from 'tap'
import { SignJWT, base64url } from 'jose'
import WebSocket from 'ws'
import { Frames, build, captureLogs, closed, connect, listen, upgradeStatus, waitFor } from '../helper.js'
import { startServer } from '../server-process.js'
import { mint } from '../../src/token.js'

const SECRET = 'auth-test-secret-0123456789abcdef-xyz'
const KEY = { alg: 'HS256' as const, key: new TextEncoder().encode(SECRET) }
const JWT = { AUTH_MODE: 'jwt', JWT_SECRET: SECRET }

async function token (sub: string, extra: { name?: string, rooms?: string[], ttlSeconds?: number } = {}): Promise<string> {
  return await mint(KEY, { sub, ttlSeconds: extra.ttlSeconds ?? 3600, name: extra.name, rooms: extra.rooms })
}

/** The status and JSON body of a refused upgrade, from a real client. */
async function refusal (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: { message?: string } }> {
  const ws = new WebSocket(url, { headers })
  return await new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += String(d) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as { message?: string } }); ws.terminate() })
    })
    ws.on('open', () => { ws.terminate(); reject(new Error(`upgrade to ${url} was accepted`)) })
    ws.on('error', reject)
  })
}

const b64 = (obj: object) => base64url.encode(JSON.stringify(obj))
const now = () => Math.floor(Date.now() / 1000)

t.test('every kind of bad token gets 401 with a reason, never a 101', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = rsa.publicKey.export({ type: 'spki', format: 'pem' }) as string
  const { ws, app } = await listen(t, { ...JWT, JWT_ISSUER: 'https://issuer.test', JWT_AUDIENCE: 'realtime' })
  const good = { sub: 'alice', iss: 'https://issuer.test', aud: 'realtime' }
  const sign = async (claims: object, key: Uint8Array = KEY.key) => await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(key)
  const cases: Array<[string, string | undefined, string]> = [
    ['missing', undefined, 'missing token'],
    ['malformed', 'not.a.jwt', 'malformed token'],
    ['garbage', 'abc', 'malformed token'],
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...good, exp: now() + 60 })}.`, 'algorithm not allowed'],
    ['bad signature', await sign({ ...good, exp: now() + 60 }, new TextEncoder().encode('another-secret-of-enough-length-0123456789')), 'bad signature'],
    ['expired', await sign({ ...good, exp: now() - 10 }), 'token expired'],
    ['not yet valid', await sign({ ...good, exp: now() + 600, nbf: now() + 300 }), 'token not yet valid'],
    ['wrong issuer', await sign({ ...good, iss: 'https://evil.test', exp: now() + 60 }), 'wrong issuer'],
    ['wrong audience', await sign({ ...good, aud: 'other', exp: now() + 60 }), 'wrong audience'],
    ['no exp', await sign({ ...good }), 'missing or invalid exp claim'],
    ['no sub', await sign({ iss: good.iss, aud: good.aud, exp: now() + 60 }), 'missing or invalid sub claim'],
    ['bad rooms claim', await sign({ ...good, exp: now() + 60, rooms: 'lobby' }), 'invalid claims: rooms must be a list of room names (a trailing * matches a prefix)'],
    ['bad name claim', await sign({ ...good, exp: now() + 60, name: 'a\u0007b' }), 'invalid claims: name name must not contain control characters']
  ]
  for (const [what, tok, reason] of cases) {
    const url = `${ws}/ws/chat/lobby${tok === undefined ? '' : `?token=${encodeURIComponent(tok)}`}`
    const { status, body } = await refusal(url)
    t.equal(status, 401, `${what}: 401`)
    t.equal(body.message, reason, `${what}: says why`)
  }
  // the same through the header, and on echo and time
  for (const path of ['/ws/echo', '/ws/time', '/ws/chat']) {
    t.equal(await upgradeStatus(`${ws}${path}`), 401, `${path} without a token: 401`)
  }
  t.equal(await upgradeStatus(`${ws}/ws/echo`, { headers: { authorization: 'Basic abc' } }), 401, 'a non-Bearer Authorization: 401')
  t.match((await app.inject('/metrics')).body, /rt_upgrade_refusals_total\{reason="unauthorized"\} 17/, 'each counted as unauthorized')
  t.test('an HS256 token signed with the RS256 public key as its secret', async (t) => {
    const rs = await listen(t, { AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: pem })
    const confused = await new SignJWT({ sub: 'mallory', exp: now() + 60 }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(pem))
    const { status, body } = await refusal(`${rs.ws}/ws/echo?token=${confused}`)
    t.equal(status, 401)
    t.equal(body.message, 'algorithm not allowed')
    const real = await new SignJWT({ sub: 'alice', exp: now() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey)
    const { ws: sock } = await connect(t, `${rs.ws}/ws/echo?token=${real}`)
    t.equal(sock.readyState, WebSocket.OPEN, 'an RS256 token from the private key is accepted')
  })
})

t.test('a good token in the header and in the query; name claim, userId on every chat frame', async (t) => {
  const { ws } = await listen(t, JWT)
  const alice = await connect(t, `${ws}/ws/chat/team?name=Ignored`, { headers: { authorization: `Bearer ${await token('alice', { name: 'Alice' })}` } })
  const welcome = await alice.frames.next('welcome')
  t.match(welcome, { name: 'Alice', userId: 'alice', room: 'team' }, 'the name claim overrides ?name=')
  const bob = await connect(t, `${ws}/ws/chat/team?name=Bob&token=${await token('bob')}`)
  t.match(await bob.frames.next('welcome'), { name: 'Bob', userId: 'bob' }, 'without a name claim, ?name= names the user')
  t.match(await alice.frames.next('join'), { name: 'Bob', userId: 'bob' })
  bob.ws.send(JSON.stringify({ type: 'message', text: 'hi', cid: 'c1' }))
  t.match(await alice.frames.next('message'), { from: 'Bob', userId: 'bob', text: 'hi' })
  bob.ws.close()
  t.match(await alice.frames.next('leave'), { name: 'Bob', userId: 'bob' })
  const echo = await connect(t, `${ws}/ws/echo?token=${await token('alice')}`)
  echo.ws.send('ping?')
  const [data] = await once(echo.ws, 'message') as [Buffer]
  t.equal(String(data), 'ping?', 'echo works with a token')
})

t.test('the token is never logged, stored in the registry or shown by the admin API', async (t) => {
  const { logger, lines } = captureLogs('debug')
  const app = await build(t, { ...JWT, API_TOKEN: 'admin-token-0123456789' }, { loggerInstance: logger })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const tok = await token('alice', { name: 'Alice' })
  const chat = await connect(t, `ws://127.0.0.1:${port}/ws/chat/lobby?token=${tok}`)
  await chat.frames.next('welcome')
  t.equal(await upgradeStatus(`ws://127.0.0.1:${port}/ws/chat/lobby?token=${tok}x`), 401)
  const header = await connect(t, `ws://127.0.0.1:${port}/ws/echo`, { headers: { authorization: `Bearer ${tok}` } })
  header.ws.close()
  await once(header.ws, 'close')
  const admin = await app.inject({ url: '/connections', headers: { authorization: 'Bearer admin-token-0123456789' } })
  t.match(admin.json(), { connections: [{ route: 'chat', userId: 'alice' }] }, 'the admin API shows the user id')
  const filtered = await app.inject({ url: '/connections?userId=nobody', headers: { authorization: 'Bearer admin-token-0123456789' } })
  t.match(filtered.json(), { total: 0 }, 'and filters by it')
  t.notOk(admin.body.includes(tok.split('.')[2]!), 'and not the token')
  chat.ws.close()
  await once(chat.ws, 'close')
  const all = lines.map((l) => JSON.stringify(l)).join('\n')
  t.ok(lines.some((l) => l.msg === 'request' && l.status === 101 && String(l.path).includes('token=[redacted]')), 'the request URL is logged with the token redacted')
  t.ok(lines.some((l) => l.msg === 'ws connected' && l.userId === 'alice'), 'connect lines carry the user id')
  t.notOk(all.includes(tok.split('.')[2]!), 'no log line carries the token signature')
  t.notOk(all.includes(tok.split('.')[1]!), 'nor its payload')
})

t.test('rooms claim: exact names and prefixes; others get 403 before the upgrade', async (t) => {
  const { ws, app } = await listen(t, JWT)
  const tok = await token('carol', { rooms: ['lobby', 'team-*'] })
  for (const room of ['lobby', 'team-a', 'team-']) {
    const c = await connect(t, `${ws}/ws/chat/${room}?token=${tok}`)
    t.match(await c.frames.next('welcome'), { room }, `${room} is allowed`)
  }
  const c = await connect(t, `${ws}/ws/chat?token=${tok}`)
  t.match(await c.frames.next('welcome'), { room: 'lobby' }, '/ws/chat is the lobby')
  for (const room of ['team', 'other', 'lobby2']) {
    const { status, body } = await refusal(`${ws}/ws/chat/${room}?token=${tok}`)
    t.equal(status, 403, `${room} is refused`)
    t.equal(body.message, `this token does not allow room ${room}`)
  }
  // the HTTP read side follows the same rule
  t.equal((await app.inject('/rooms/lobby/history')).statusCode, 401, 'history needs a token with auth on')
  t.equal((await app.inject({ url: '/rooms/other/history', headers: { authorization: `Bearer ${tok}` } })).statusCode, 403)
  t.equal((await app.inject({ url: `/rooms/lobby/history?token=${tok}` })).statusCode, 200)
  const rooms = (await app.inject({ url: '/rooms', headers: { authorization: `Bearer ${tok}` } })).json() as Array<{ room: string }>
  t.same(rooms.map((r) => r.room).sort(), ['lobby', 'team-', 'team-a'], 'GET /rooms lists only the rooms the token allows')
  t.equal((await app.inject({ url: '/rooms/team-a', headers: { authorization: `Bearer ${tok}` } })).statusCode, 200)
  t.equal((await app.inject({ url: '/rooms/other', headers: { authorization: `Bearer ${tok}` } })).statusCode, 403)
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /rt_upgrade_refusals_total\{reason="room_forbidden"\} 3/, 'refusals counted by reason')
  t.notMatch(metrics, /reason="unauthorized"\} [1-9]/, 'a refused refresh is not a refused chat message')
})

t.test('a refresh whose rooms claim drops a room: the hub leaves it; a chat socket for it closes with 4501', async (t) => {
  const { ws, app } = await listen(t, JWT)
  const tok = await token('carol', { rooms: ['lobby', 'team-*'] })
  const narrower = await token('carol', { rooms: ['lobby'] })
  const hub = await connect(t, `${ws}/ws/hub?token=${tok}`)
  await hub.frames.next('subscribed') // the personal stream
  for (const [ref, room] of [[1, 'lobby'], [2, 'team-a'], [3, 'team-b']] as const) {
    hub.ws.send(JSON.stringify({ type: 'subscribe', ref, room }))
    t.match(await hub.frames.next('subscribed'), { ref, room })
  }
  const watcher = await connect(t, `${ws}/ws/hub?token=${await token('dan', { rooms: ['team-*'] })}`)
  await watcher.frames.next('subscribed')
  watcher.ws.send(JSON.stringify({ type: 'subscribe', ref: 1, room: 'team-a' }))
  await watcher.frames.next('subscribed')
  const chat = await connect(t, `${ws}/ws/chat/team-a?token=${tok}`)
  await chat.frames.next('welcome')

  hub.ws.send(JSON.stringify({ type: 'refresh', ref: 'r1', token: narrower }))
  const left = [await hub.frames.next('unsubscribed'), await hub.frames.next('unsubscribed')]
  t.same(left.map((f) => f.room).sort(), ['team-a', 'team-b'], 'the rooms the new claim drops are left')
  t.ok(left.every((f) => f.code === 'forbidden' && f.ref === undefined), 'with code forbidden and no ref')
  t.match(await hub.frames.next('refreshed'), { ref: 'r1' }, 'then the refresh is answered')
  hub.ws.send(JSON.stringify({ type: 'publish', ref: 4, room: 'team-a', data: 1 }))
  t.match(await hub.frames.next('error'), { ref: 4, code: 'not_subscribed' })
  hub.ws.send(JSON.stringify({ type: 'subscribe', ref: 5, room: 'team-a' }))
  t.match(await hub.frames.next('error'), { ref: 5, code: 'forbidden' }, 'and may not subscribe again')
  hub.ws.send(JSON.stringify({ type: 'publish', ref: 6, room: 'lobby', data: { still: true } }))
  t.match(await hub.frames.next('ack'), { ref: 6, room: 'lobby' }, 'the rooms still allowed stay')
  t.same(await app.hub.store.members('team-b'), [], 'team-b has no member left')

  chat.ws.send(JSON.stringify({ type: 'refresh', token: narrower }))
  const [code, reason] = await closed(chat.ws, 5000)
  t.equal(code, 4501, 'a chat socket whose URL room is dropped closes with 4501: do not reconnect')
  t.equal(reason, 'forbidden')
  // carol's hub socket left team-a first, but her chat socket was still in it: she leaves once, now
  t.match(await watcher.frames.next('leave'), { room: 'team-a', userId: 'carol' }, 'the room sees carol leave')
  t.match((await app.inject('/metrics')).body, /rt_server_closes_total\{reason="forbidden"\} 1/)
})

t.test('expiry closes with 4002 at exp, after an expiring warning', async (t) => {
  const { ws } = await listen(t, JWT)
  const tok = await mint(KEY, { sub: 'dave', ttlSeconds: 2 })
  const exp = JSON.parse(Buffer.from(tok.split('.')[1]!, 'base64url').toString()).exp as number
  const chat = await connect(t, `${ws}/ws/chat/lobby?token=${tok}`)
  const warning = await chat.frames.next('expiring')
  t.ok(Number(warning.in) > 0 && Number(warning.in) <= 2000, `warned ${String(warning.in)} ms ahead (less than 30 s left: at once)`)
  const echo = await connect(t, `${ws}/ws/echo?token=${tok}`)
  const [[code, reason], [echoCode]] = await Promise.all([closed(chat.ws, 5000), closed(echo.ws, 5000)])
  const at = Date.now()
  t.equal(code, 4002)
  t.equal(reason, 'token expired')
  t.equal(echoCode, 4002, 'echo sockets expire too')
  t.ok(at >= exp * 1000 && at < exp * 1000 + 1000, `closed ${at - exp * 1000} ms after exp`)
  t.notOk(echo.frames.seen.some((f) => f.type === 'expiring'), 'echo gets no expiring frame')
})

t.test('refresh before expiry keeps the socket open; a token for another user does not', async (t) => {
  const { ws } = await listen(t, JWT)
  const chat = await connect(t, `${ws}/ws/chat/lobby?token=${await mint(KEY, { sub: 'erin', ttlSeconds: 2 })}`)
  const time = await connect(t, `${ws}/ws/time?token=${await mint(KEY, { sub: 'erin', ttlSeconds: 2 })}`)
  await chat.frames.next('welcome')
  chat.ws.send(JSON.stringify({ type: 'refresh', token: await token('mallory') }))
  t.match(await chat.frames.next('error'), { code: 'unauthorized', message: 'token is for another user' })
  chat.ws.send(JSON.stringify({ type: 'refresh', token: 'garbage' }))
  t.match(await chat.frames.next('error'), { code: 'unauthorized', message: 'malformed token' })
  const fresh = await token('erin')
  chat.ws.send(JSON.stringify({ type: 'refresh', token: fresh }))
  const refreshed = await chat.frames.next('refreshed')
  t.ok(Number(refreshed.exp) > now() + 3000, 'the new exp')
  time.ws.send(JSON.stringify({ type: 'refresh', token: fresh }))
  t.match(await time.frames.next('refreshed'), { exp: refreshed.exp }, 'time sockets refresh too')
  // past the first token's exp, both are still open: the point of the test is time passing, so this wait is fixed;
  // the ping below is the positive marker (a close sent at the old exp would have arrived before its pong)
  await new Promise((resolve) => setTimeout(resolve, 2600))
  t.equal(chat.ws.readyState, WebSocket.OPEN, 'chat still open after the old exp')
  t.equal(time.ws.readyState, WebSocket.OPEN, 'time still open after the old exp')
  chat.ws.send(JSON.stringify({ type: 'ping' }))
  await chat.frames.next('pong')

  t.test('a refused refresh leaves the old expiry standing', async (t) => {
    const other = await connect(t, `${ws}/ws/chat/lobby?token=${await mint(KEY, { sub: 'frank', ttlSeconds: 2 })}`)
    await other.frames.next('welcome')
    other.ws.send(JSON.stringify({ type: 'refresh', token: await token('erin') }))
    t.match(await other.frames.next('error'), { code: 'unauthorized' })
    const [code] = await closed(other.ws, 4000)
    t.equal(code, 4002, 'closed at the old exp')
  })
})

t.test('presence counts a user once across tabs: join on the first, leave after the last', async (t) => {
  const { ws, app } = await listen(t, JWT)
  const watcher = await connect(t, `${ws}/ws/chat/p?token=${await token('watcher')}`)
  await watcher.frames.next('welcome')
  const tab1 = await connect(t, `${ws}/ws/chat/p?token=${await token('gina', { name: 'Gina' })}`)
  await tab1.frames.next('welcome')
  t.match(await watcher.frames.next('join'), { name: 'Gina', userId: 'gina' })
  const tab2 = await connect(t, `${ws}/ws/chat/p?token=${await token('gina', { name: 'Gina' })}`)
  const welcome = await tab2.frames.next('welcome')
  t.equal(welcome.memberCount, 2, 'the second tab sees two members: the watcher and Gina once')
  t.equal((welcome.members as string[]).filter((n) => n === 'Gina').length, 1)
  t.same((await app.inject('/rooms/p?token=' + await token('x'))).json().members.length, 2)
  tab1.ws.close()
  await once(tab1.ws, 'close')
  tab2.ws.send('still here')
  t.match(await watcher.frames.next('message'), { text: 'still here', userId: 'gina' })
  t.equal(watcher.frames.all('leave').length, 0, 'no leave while a tab is open')
  t.equal(watcher.frames.all('join').length, 1, 'one join for two tabs')
  tab2.ws.close()
  t.match(await watcher.frames.next('leave'), { name: 'Gina', userId: 'gina' })
})

async function openMany (t: Test, url: string, n: number, opts: WebSocket.ClientOptions = {}): Promise<WebSocket[]> {
  const out: WebSocket[] = []
  for (let i = 0; i < n; i++) out.push((await connect(t, url, opts)).ws)
  return out
}

t.test('per-IP cap: 429 past it, in every mode, and recovery when sockets close', async (t) => {
  const { ws, app } = await listen(t, { MAX_CONNECTIONS_PER_IP: '3' })
  const socks = await openMany(t, `${ws}/ws/echo`, 3)
  const { status, body } = await refusal(`${ws}/ws/time`)
  t.equal(status, 429)
  t.equal(body.message, 'too many connections from this address (at most 3)')
  const elsewhere = await connect(t, `${ws}/ws/echo`, { localAddress: '127.0.0.2' })
  t.equal(elsewhere.ws.readyState, WebSocket.OPEN, 'another address is not capped')
  socks[0]!.close()
  await once(socks[0]!, 'close')
  await connect(t, `${ws}/ws/echo`)
  t.equal(app.limits.countByAddress('127.0.0.1'), 3, 'the slot came back and was taken again')
  const metrics = (await app.inject('/metrics')).body
  t.match(metrics, /rt_upgrade_refusals_total\{reason="per_ip_cap"\} 1/)
})

t.test('per-IP cap counts upgrades under way: a burst cannot overshoot it', async (t) => {
  const { ws, app } = await listen(t, { MAX_CONNECTIONS_PER_IP: '5' })
  const attempts = Array.from({ length: 20 }, async () => await new Promise<'open' | number>((resolve) => {
    const sock = new WebSocket(`${ws}/ws/echo`)
    t.teardown(() => sock.terminate())
    sock.on('open', () => resolve('open'))
    sock.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); res.resume() })
    sock.on('error', () => resolve(-1))
  }))
  const results = await Promise.all(attempts)
  t.equal(results.filter((r) => r === 'open').length, 5, 'exactly the cap opened')
  t.equal(results.filter((r) => r === 429).length, 15, 'the rest got 429')
  t.equal(app.limits.countByAddress('127.0.0.1'), 5)
})

t.test('per-user cap with auth: 429 past it, across addresses; recovery', async (t) => {
  const { ws, app } = await listen(t, { ...JWT, MAX_CONNECTIONS_PER_USER: '2' })
  const tok = await token('hank')
  const socks = await openMany(t, `${ws}/ws/echo?token=${tok}`, 2)
  const { status, body } = await refusal(`${ws}/ws/chat?token=${tok}`)
  t.equal(status, 429)
  t.equal(body.message, 'too many connections for this user (at most 2)')
  t.match((await app.inject('/metrics')).body, /rt_upgrade_refusals_total\{reason="per_user_cap"\} 1/)
  // another user on the same address is fine
  await connect(t, `${ws}/ws/echo?token=${await token('ivy')}`)
  socks[1]!.close()
  await once(socks[1]!, 'close')
  const again = await connect(t, `${ws}/ws/chat?token=${tok}`)
  t.match(await again.frames.next('welcome'), { userId: 'hank' }, 'a slot freed by a close is usable')
  // refused upgrades (401, 403, 400) give their slot back
  for (let i = 0; i < 5; i++) t.equal(await upgradeStatus(`${ws}/ws/chat/bad%20room?token=${await token('jack')}`), 400)
  await openMany(t, `${ws}/ws/echo?token=${await token('jack')}`, 2)
  t.equal(app.limits.countByAddress('127.0.0.1'), 5, 'counts match the open sockets: hank 2, ivy 1, jack 2')
})

t.test('GET /config says the mode; a plain GET of a WebSocket URL gets the refusal too', async (t) => {
  const app = await build(t, JWT)
  t.match((await app.inject('/config')).json(), { authMode: 'jwt' })
  const res = await app.inject('/ws/chat/lobby')
  t.equal(res.statusCode, 401, 'a browser probing why its socket failed learns 401')
  t.equal(res.json().message, 'missing token')
  const open = await build(t)
  t.match((await open.inject('/config')).json(), { authMode: 'none' })
})

t.test('injectWS: token in the upgrade headers', async (t) => {
  const app = await build(t, JWT)
  let frames: Frames | undefined
  const sock = await app.injectWS('/ws/chat/lobby', { headers: { authorization: `Bearer ${await token('kim', { name: 'Kim' })}` } },
    { onInit: (w) => { frames = new Frames(w) } }) // a reader before the welcome can arrive
  t.teardown(() => sock.terminate())
  t.match(await frames!.next('welcome'), { name: 'Kim', userId: 'kim' })
  await t.rejects(app.injectWS('/ws/chat/lobby'), /401/, 'no token: 401')
  await t.rejects(app.injectWS('/ws/chat/secret', { headers: { authorization: `Bearer ${await token('kim', { rooms: ['lobby'] })}` } }), /403/, 'room not in token: 403')
})

t.test('start-up refuses an incomplete or ambiguous auth setting, naming it', async (t) => {
  // three independent processes: booted side by side, each boot is seconds of module loading
  await Promise.all(([
    [{ AUTH_MODE: 'jwt' }, /AUTH_MODE=jwt needs JWT_SECRET/],
    [{ JWT_SECRET: SECRET }, /JWT_SECRET is set but AUTH_MODE is none/],
    [{ AUTH_MODE: 'jwt', JWT_SECRET: 'short' }, /invalid JWT_SECRET/]
  ] as const).map(async ([env, msg]) => await t.rejects(startServer(t, env as Record<string, string>), msg)))
})

t.test('an upgrade abandoned before its handler runs gives its cap slot back', async (t) => {
  const { buildApp } = await import('../../src/app.js')
  const { testConfig } = await import('../helper.js')
  const { connect: tcpConnect } = await import('node:net')
  const app = await buildApp(testConfig({ MAX_CONNECTIONS_PER_IP: '2' }))
  t.teardown(() => app.close())
  // hold every upgrade between the cap check (onRequest) and the handler until the clients have hung up
  let held = 0
  let release!: () => void
  const released = new Promise<void>((resolve) => { release = resolve })
  app.addHook('preHandler', async (req) => { if (req.ws) { held++; await released } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const hangUps = []
  for (let i = 0; i < 2; i++) {
    const sock = tcpConnect(port, '127.0.0.1')
    await once(sock, 'connect')
    sock.write('GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    hangUps.push(sock)
  }
  await waitFor(() => held === 2, 'both upgrades held before their handler')
  t.equal(app.limits.countByAddress('127.0.0.1'), 2, 'two upgrades under way hold the two slots')
  t.equal(await upgradeStatus(`ws://127.0.0.1:${port}/ws/echo`), 429, 'so a third is refused')
  for (const sock of hangUps) sock.destroy() // the clients give up before their upgrades are handled
  await Promise.all(hangUps.map(async (sock) => { if (!sock.closed) await once(sock, 'close') }))
  release()
  // Node does not read an upgrading socket until ws takes it, so the hang-up is seen once the held
  // upgrade reaches its handler; then the slot comes back
  await waitFor(() => app.limits.countByAddress('127.0.0.1') === 0, 'both cap slots given back')
  t.equal(app.limits.countByAddress('127.0.0.1'), 0, 'both slots came back')
  t.equal(app.registry.size, 0, 'and nothing is left in the registry')
  const a = await connect(t, `ws://127.0.0.1:${port}/ws/echo`)
  const b = await connect(t, `ws://127.0.0.1:${port}/ws/echo`)
  t.ok(a.ws.readyState === WebSocket.OPEN && b.ws.readyState === WebSocket.OPEN, 'the cap of 2 is whole again')
})

t.test('token lifetime, iat and sub rules hold on the upgrade and on refresh frames', async (t) => {
  const { ws } = await listen(t, { ...JWT, AUTH_MAX_TOKEN_TTL_S: '600' })
  const sign = async (claims: object) => await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(KEY.key)
  const refused: Array<[string, string, string]> = [
    ['an exp past the longest lifetime', await sign({ sub: 'lee', exp: now() + 3600 }), 'token lifetime too long: exp is more than 600 s ahead'],
    ['an iat in the future', await sign({ sub: 'lee', iat: now() + 120, exp: now() + 300 }), 'token issued in the future (iat)'],
    ['a newline in sub', await sign({ sub: 'lee\nrt:forged', exp: now() + 300 }), 'invalid claims: sub must not contain control characters'],
    ['a DEL in sub', await sign({ sub: 'lee\u007f', exp: now() + 300 }), 'invalid claims: sub must not contain control characters'],
    ['a sub of 257 characters', await sign({ sub: 'l'.repeat(257), exp: now() + 300 }), 'invalid claims: sub must be a string of 1-256 characters']
  ]
  for (const [what, tok, reason] of refused) {
    const { status, body } = await refusal(`${ws}/ws/chat/lobby?token=${tok}`)
    t.equal(status, 401, `upgrade with ${what}: 401`)
    t.equal(body.message, reason, `upgrade with ${what}: says why`)
  }
  const lee = await connect(t, `${ws}/ws/chat/lobby?token=${await token('lee', { ttlSeconds: 600 })}`)
  await lee.frames.next('welcome')
  for (const [what, tok, reason] of refused) {
    lee.ws.send(JSON.stringify({ type: 'refresh', token: tok }))
    t.match(await lee.frames.next('error'), { code: 'unauthorized', message: reason }, `refresh with ${what}: refused, says why`)
  }
  lee.ws.send(JSON.stringify({ type: 'refresh', token: await token('lee', { ttlSeconds: 500 }) }))
  await lee.frames.next('refreshed')
  t.equal(lee.ws.readyState, WebSocket.OPEN, 'a token within the bound still refreshes')
})

t.test('the Bearer scheme in any case, with extra spaces, on the upgrade header', async (t) => {
  const { ws } = await listen(t, JWT)
  const tok = await token('mo')
  for (const header of [`bearer ${tok}`, `BEARER ${tok}`, `Bearer   ${tok}`]) {
    const { ws: sock } = await connect(t, `${ws}/ws/echo`, { headers: { authorization: header } })
    t.equal(sock.readyState, WebSocket.OPEN, `${header.slice(0, 9)}… opens`)
    sock.close()
  }
  t.equal(await upgradeStatus(`${ws}/ws/echo?token=${tok}`, { headers: { authorization: `Bearer${tok}` } }), 401, 'no space after the scheme: no token, and no fallback to the query')
})
