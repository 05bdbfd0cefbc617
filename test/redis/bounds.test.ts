// MAX_ROOMS, HISTORY_MAX_BYTES and ROOM_IDLE_TTL_MS on the Redis hub: the bounds hold for the state every instance
// shares, measured by reading Redis itself.
import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { connect, listen, waitFor } from '../helper.js'
import { RedisServer, requireRedis } from './redis-server.js'

const TOKEN = 'test-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }
const LIMIT_BODY = { statusCode: 503, error: 'Service Unavailable', message: 'room limit reached: try again later' }

/** Two instances on one Redis under a fresh prefix, and a plain client to read the keys. */
async function pair (t: Test, redis: RedisServer, extra: Record<string, string>) {
  const prefix = `b${randomBytes(3).toString('hex')}:`
  const config = { REDIS_URL: redis.url, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, ...extra }
  const a = await listen(t, config)
  const b = await listen(t, config)
  const peek = new Redis(redis.url)
  t.teardown(() => peek.disconnect())
  return { a, b, prefix, peek }
}

type Instance = Awaited<ReturnType<typeof listen>>

async function post (i: Instance, room: string, text: string) {
  return await i.app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { text }, headers: auth })
}

const roomNames = async (i: Instance) => ((await i.app.inject('/rooms')).json() as Array<{ room: string }>).map((r) => r.room)

/** A raw upgrade request: the status and body of a refusal, or a rejection if it was upgraded. */
async function rawUpgrade (port: number, path: string): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (d) => { body += String(d) })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('upgrade', (_res, socket) => { socket.destroy(); reject(new Error(`${path} was upgraded`)) })
    req.on('error', reject)
    req.end()
  })
}

async function member (t: Test, i: Instance, room: string, query = '') {
  const c = await connect(t, `${i.ws}/ws/chat/${room}?name=M${query}`)
  const welcome = await c.frames.next('welcome')
  return { ...c, welcome }
}

t.test('redis room bounds', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)

  t.test('MAX_ROOMS across two instances: eviction of the least recently active room without members, then 503', async (t) => {
    const { a, b, prefix, peek } = await pair(t, redis, { MAX_ROOMS: '3' })
    const first = (await post(a, 'r1', 'one')).json()
    t.equal((await post(a, 'r1', 'two')).statusCode, 201)
    t.equal((await post(b, 'r2', 'x')).statusCode, 201)
    t.equal((await post(a, 'r3', 'x')).statusCode, 201)
    t.equal(await peek.zcard(`${prefix}rooms:active`), 3, 'three rooms held')
    t.ok(await a.app.hub.store.canCreate('r4'), 'at the cap a new room may still come: one without members can go')
    t.equal((await post(b, 'r4', 'x')).statusCode, 201, 'a new room on the other instance evicts')
    t.same((await roomNames(a)).sort(), ['r2', 'r3', 'r4'], 'r1 (least recently active) went, seen from both instances')
    t.same((await roomNames(b)).sort(), ['r2', 'r3', 'r4'])
    t.equal(await peek.exists(`${prefix}room:{r1}:meta`, `${prefix}room:{r1}:hist`, `${prefix}room:{r1}:gpos`, `${prefix}room:{r1}:cids`), 0, 'its keys are gone')
    t.equal((await a.app.inject('/rooms/r1/history')).statusCode, 404, 'its history went with it')
    t.equal(await peek.zcard(`${prefix}rooms:active`), 3)

    // activity moves a room to the recent end: r2 published again, r3 is now the least recently active
    t.equal((await post(a, 'r2', 'again')).statusCode, 201)
    const resumed = await member(t, b, 'r1', `&since=2&epoch=${String(first.epoch)}`)
    t.match(resumed.welcome, { room: 'r1', seq: 0, truncated: true, history: [] }, 'a resume of the evicted room is truncated')
    t.not(resumed.welcome.epoch, first.epoch, 'in a new epoch')
    t.same((await roomNames(a)).sort(), ['r1', 'r2', 'r4'], 'r1 came back in r3\'s place, not r2\'s')

    // every held room has members (r1 has one on b): a new room is refused, on either instance
    const m2 = await member(t, a, 'r2')
    const r4 = await member(t, b, 'r4')
    t.notOk(await b.app.hub.store.canCreate('r5'))
    const refused = await rawUpgrade(b.port, '/ws/chat/r5')
    t.equal(refused.status, 503, 'the upgrade is refused before any 101')
    t.same(JSON.parse(refused.body), LIMIT_BODY)
    t.equal((await rawUpgrade(a.port, '/ws/chat/r5')).status, 503, 'and on the other instance')
    const publish = await post(a, 'r5', 'x')
    t.equal(publish.statusCode, 503, 'an HTTP publish to a new room is refused too')
    t.same(publish.json(), LIMIT_BODY)
    t.equal(await peek.zscore(`${prefix}rooms:active`, 'r5'), null, 'and left nothing behind')
    t.equal(await peek.exists(`${prefix}room:{r5}:meta`), 0)
    t.equal((await post(b, 'r2', 'held rooms keep working')).statusCode, 201)
    t.match((await member(t, b, 'r2')).welcome, { room: 'r2', memberCount: 2 }, 'a held room still takes members')

    // r4's member leaves: it can be evicted for a new room again
    r4.ws.close()
    await waitFor(async () => await peek.zscore(`${prefix}rooms:idle`, 'r4') !== null, 'r4 to have no members')
    t.ok(await a.app.hub.store.canCreate('r5'))
    t.match((await member(t, a, 'r5')).welcome, { room: 'r5', seq: 0 }, 'a new room is let in')
    t.same((await roomNames(b)).sort(), ['r1', 'r2', 'r5'], 'in r4\'s place')
    t.equal(await peek.zcard(`${prefix}rooms:active`), 3)
    t.equal(m2.ws.readyState, m2.ws.OPEN)
  })

  t.test('MAX_ROOMS never refuses a personal stream: users filling the rooms cannot lock anyone out of their own', async (t) => {
    const { a, prefix, peek } = await pair(t, redis, { MAX_ROOMS: '1' })
    await member(t, a, 'held')
    t.equal((await post(a, 'other', 'x')).statusCode, 503, 'the one place is taken by a room with a member')
    t.ok(await a.app.hub.store.canCreate('@bob'), 'a personal stream may still come')
    const sent = await a.app.hub.store.publish('@bob', { from: 'api', text: 'for bob' })
    t.equal(sent.message.seq, 1, 'held like a room')
    t.ok(await peek.zscore(`${prefix}rooms:active`, '@bob'), 'counted among the held rooms (and evictable once idle)')
  })

  t.test('a room left with no members and no history is forgotten at once', async (t) => {
    const { a, prefix, peek } = await pair(t, redis, { MAX_ROOMS: '3' })
    const visitor = await member(t, a, 'browse')
    t.not(await peek.zscore(`${prefix}rooms:active`, 'browse'), null)
    visitor.ws.close()
    await waitFor(async () => await peek.zscore(`${prefix}rooms:active`, 'browse') === null, 'the room to be forgotten')
    t.equal(await peek.exists(`${prefix}room:{browse}:meta`), 0, 'no key left behind')
    t.equal(await peek.zscore(`${prefix}rooms:idle`, 'browse'), null)
  })

  t.test('a lowered MAX_ROOMS (a rolling restart with a new value) is met at the next new room', async (t) => {
    const { a, prefix, peek } = await pair(t, redis, { MAX_ROOMS: '5' })
    for (let i = 0; i < 5; i++) t.equal((await post(a, `l${i}`, 'x')).statusCode, 201)
    const lowered = await listen(t, { REDIS_URL: redis.url, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, MAX_ROOMS: '2' })
    t.equal((await post(lowered, 'l5', 'x')).statusCode, 201)
    t.same(await peek.zrange(`${prefix}rooms:active`, '0', '-1'), ['l4', 'l5'], 'the least recently active went until one place was left for it')
  })

  t.test('HISTORY_MAX_BYTES across rooms and instances: the globally oldest go first', async (t) => {
    const BUDGET = 2048
    const { a, b, prefix, peek } = await pair(t, redis, { HISTORY_MAX_BYTES: String(BUDGET), HISTORY_SIZE: '100' })
    const rooms = ['ha', 'hb', 'hc']
    const held = async () => {
      let bytes = 0
      const ids = new Set<string>()
      for (const room of rooms) {
        for (const raw of await peek.lrange(`${prefix}room:{${room}}:hist`, 0, -1)) {
          bytes += Buffer.byteLength(raw)
          ids.add((JSON.parse(raw) as { id: string }).id)
        }
      }
      return { bytes, ids }
    }
    // every message in publish order, with its size as Redis holds it
    const published: Array<{ id: string, bytes: number }> = []
    const epochs = new Map<string, string>()
    for (let i = 0; i < 60; i++) {
      const room = rooms[(i * 7) % 3] as string
      // sizes vary (multi-byte text counts in UTF-8 bytes): an even split across rooms would hide a wrong order
      const text = `${'é'.repeat(i % 11)}message ${i} ${'x'.repeat((i * 13) % 40)}`
      const res = await post(i % 2 === 0 ? a : b, room, text)
      t.equal(res.statusCode, 201)
      const { id, epoch } = res.json() as { id: string, epoch: string }
      epochs.set(room, epoch)
      const raws = await peek.lrange(`${prefix}room:{${room}}:hist`, -1, -1)
      const raw = raws[0] as string
      t.equal((JSON.parse(raw) as { id: string }).id, id, 'the message just published is its room\'s newest')
      published.push({ id, bytes: Buffer.byteLength(raw) })
      const now = await held()
      if (now.bytes > BUDGET) t.fail(`${now.bytes} bytes held after message ${i}`)
      t.equal(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')), now.bytes, 'the counter is what Redis holds')
    }
    // the longest run of the most recent messages that fits in the budget, whatever their rooms
    let expectBytes = 0
    let from = published.length
    while (from > 0 && expectBytes + (published[from - 1] as { bytes: number }).bytes <= BUDGET) expectBytes += (published[--from] as { bytes: number }).bytes
    const end = await held()
    t.ok(from > 0, 'the budget dropped some')
    t.same([...end.ids].sort(), published.slice(from).map((m) => m.id).sort(), 'what is held is the newest that fit, across rooms')
    t.equal(end.bytes, expectBytes)
    let perRoom = 0
    for (const v of Object.values(await peek.hgetall(`${prefix}hist:rooms`))) perRoom += Number(v)
    t.equal(perRoom, end.bytes, 'per-room totals add up')
    t.equal(await peek.llen(`${prefix}room:{ha}:gpos`), await peek.llen(`${prefix}room:{ha}:hist`), 'positions stay in lockstep')

    // ha's first messages are gone: a resume from before them is truncated and gets what is held
    const resumed = await member(t, a, 'ha', `&since=1&epoch=${String(epochs.get('ha'))}`)
    t.equal(resumed.welcome.truncated, true, 'a resume past trimmed history is truncated')
    const history = resumed.welcome.history as Array<{ seq: number }>
    t.equal(history.length, await peek.llen(`${prefix}room:{ha}:hist`))
    t.ok(history.length === 0 || (history[0] as { seq: number }).seq > 2)
  })

  t.test('HISTORY_SIZE trims keep the byte counter true; a room whose history is lost starts over in the budget', async (t) => {
    const { a, prefix, peek } = await pair(t, redis, { HISTORY_SIZE: '3' })
    const bytes = async (room: string) => {
      let sum = 0
      for (const raw of await peek.lrange(`${prefix}room:{${room}}:hist`, 0, -1)) sum += Buffer.byteLength(raw)
      return sum
    }
    for (let i = 0; i < 10; i++) t.equal((await post(a, i % 3 === 0 ? 's1' : 's2', `m${i} ${'y'.repeat(i * 5)}`)).statusCode, 201)
    t.equal(await peek.llen(`${prefix}room:{s2}:hist`), 3)
    t.equal(await peek.llen(`${prefix}room:{s2}:gpos`), 3, 'positions trimmed with it')
    t.equal(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')), await bytes('s1') + await bytes('s2'))
    t.equal(Number(await peek.hget(`${prefix}hist:rooms`, 's2')), await bytes('s2'))
    // the oldest held message of s1 is older than s2's: it leads the global order
    t.same(await peek.zrange(`${prefix}hist:order`, '0', '-1'), ['s1', 's2'])
    // Redis lost s1's state (FLUSHALL-like, one room): its next life takes nothing of the old one's bytes
    await peek.del(`${prefix}room:{s1}:meta`, `${prefix}room:{s1}:hist`, `${prefix}room:{s1}:gpos`)
    t.equal((await post(a, 's1', 'new life')).statusCode, 201)
    t.equal(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')), await bytes('s1') + await bytes('s2'), 'no bytes counted twice')
  })

  t.test('ROOM_IDLE_TTL_MS: expired rooms leave the room sets and the byte budget', async (t) => {
    const { a, b, prefix, peek } = await pair(t, redis, { ROOM_IDLE_TTL_MS: '300', PRESENCE_TTL_MS: '300', MAX_ROOMS: '3' })
    for (const room of ['i1', 'i2', 'i3']) t.equal((await post(a, room, `in ${room}`)).statusCode, 201)
    const held = await member(t, b, 'i2') // a room with members does not expire
    t.equal(await peek.zcard(`${prefix}rooms:active`), 3)
    t.ok(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')) > 0)
    await waitFor(async () => await peek.zcard(`${prefix}rooms:active`) === 1, 'the heartbeat to prune the expired rooms')
    t.same(await peek.zrange(`${prefix}rooms:active`, '0', '-1'), ['i2'], 'only the room with members is left')
    t.equal(await peek.zcard(`${prefix}rooms:idle`), 0)
    t.same(await peek.zrange(`${prefix}hist:order`, '0', '-1'), ['i2'])
    const i2 = await peek.lrange(`${prefix}room:{i2}:hist`, 0, -1)
    t.equal(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')), Buffer.byteLength(i2[0] as string), 'the budget counts i2 alone')
    t.same(Object.keys(await peek.hgetall(`${prefix}hist:rooms`)), ['i2'])
    // the count recovered: two new rooms fit without evicting anything
    t.equal((await post(b, 'i4', 'x')).statusCode, 201)
    t.equal((await post(a, 'i5', 'x')).statusCode, 201)
    t.same((await roomNames(a)).sort(), ['i2', 'i4', 'i5'])
    t.match((await member(t, a, 'i2')).welcome, { memberCount: 2, seq: 1 }, 'the held room kept its state')
    held.ws.close()
  })

  /** What Redis counts for a room's history: the budget's total, the room's bytes, its place in the order, its lists. */
  const counted = async (peek: Redis, prefix: string, room: string) => ({
    budget: Number(await peek.hget(`${prefix}hist:budget`, 'bytes')),
    room: Number(await peek.hget(`${prefix}hist:rooms`, room) ?? 0),
    ordered: await peek.zscore(`${prefix}hist:order`, room) !== null,
    hist: await peek.llen(`${prefix}room:{${room}}:hist`),
    gpos: await peek.llen(`${prefix}room:{${room}}:gpos`)
  })
  const held = async (peek: Redis, prefix: string, room: string) => {
    let bytes = 0
    for (const raw of await peek.lrange(`${prefix}room:{${room}}:hist`, 0, -1)) bytes += Buffer.byteLength(raw)
    return bytes
  }
  // published at `ts`: the TTL has passed for it once the clock is past ts + TTL (what every reader filters on)
  const expired = async (ts: number, ttl: number) => await waitFor(() => Date.now() > ts + ttl, 'the history TTL to pass', ttl + 5000)

  t.test('HISTORY_TTL_MS: a publish, a welcome and a history read take expired messages out of the byte budget', async (t) => {
    const TTL = 300
    // the heartbeat (every PRESENCE_TTL_MS / 3) stays out of the way: each read or write must do it alone
    const { a, b, prefix, peek } = await pair(t, redis, { HISTORY_TTL_MS: String(TTL), HISTORY_SIZE: '100', PRESENCE_TTL_MS: '600000' })
    let last = 0
    for (const room of ['w', 'w', 'w', 'r', 'r', 'h', 'h']) {
      const res = await post(a, room, `old in ${room} ${'z'.repeat(30)}`)
      t.equal(res.statusCode, 201)
      last = Date.now() // after the reply: at or past the message's ts
    }
    const before = await counted(peek, prefix, 'w')
    t.equal(before.hist, 3)
    t.equal(before.budget, await held(peek, prefix, 'w') + await held(peek, prefix, 'r') + await held(peek, prefix, 'h'))
    await expired(last, TTL)

    // a publish: the room's expired messages leave before the new one is held
    t.equal((await post(b, 'w', 'fresh')).statusCode, 201)
    const w = await counted(peek, prefix, 'w')
    t.equal(w.hist, 1, 'only the new message is held')
    t.equal(w.gpos, 1, 'positions in lockstep')
    t.equal(w.room, await held(peek, prefix, 'w'), 'the room counts only the new message')
    t.equal(w.budget, w.room + await held(peek, prefix, 'r') + await held(peek, prefix, 'h'), 'the budget lost the expired bytes')

    // a welcome (backlog): the room's expired messages leave, and the room keeps its seq
    const m = await member(t, b, 'r', '&since=1')
    t.match(m.welcome, { seq: 2, truncated: true, history: [] }, 'the welcome holds nothing expired and says so')
    const r = await counted(peek, prefix, 'r')
    t.same([r.hist, r.gpos, r.room, r.ordered], [0, 0, 0, false], 'r holds and counts nothing, and left the global order')
    t.equal(r.budget, w.room + await held(peek, prefix, 'h'))

    // an outside history read (peek)
    const page = await a.app.inject('/rooms/h/history?since=0')
    t.equal(page.statusCode, 200)
    t.same(page.json().messages, [], 'nothing expired is served')
    const h = await counted(peek, prefix, 'h')
    t.same([h.hist, h.gpos, h.room, h.ordered], [0, 0, 0, false], 'h holds and counts nothing, and left the global order')
    t.equal(h.budget, w.room, 'the budget counts the one message within the TTL')
    t.same(await peek.zrange(`${prefix}hist:order`, '0', '-1'), ['w'])
  })

  t.test('HISTORY_TTL_MS: the heartbeat takes expired messages out of the budget in rooms nobody reads', async (t) => {
    const TTL = 300
    const { a, prefix, peek } = await pair(t, redis, { HISTORY_TTL_MS: String(TTL), HISTORY_SIZE: '100', PRESENCE_TTL_MS: '300' })
    let last = 0
    for (let i = 0; i < 12; i++) {
      const res = await post(a, `q${i % 4}`, `quiet ${i}`)
      t.equal(res.statusCode, 201)
      last = Date.now() // after the reply: at or past the message's ts
    }
    t.ok(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')) > 0)
    await expired(last, TTL)
    await waitFor(async () => Number(await peek.hget(`${prefix}hist:budget`, 'bytes')) === 0, 'the heartbeat to take the expired bytes out')
    t.equal(await peek.zcard(`${prefix}hist:order`), 0, 'no room left in the global order')
    t.same(await peek.hgetall(`${prefix}hist:rooms`), {}, 'no room counts any bytes')
    for (let i = 0; i < 4; i++) {
      t.equal(await peek.exists(`${prefix}room:{q${i}}:hist`, `${prefix}room:{q${i}}:gpos`), 0, `q${i}'s lists are gone`)
      t.equal(await peek.hget(`${prefix}room:{q${i}}:meta`, 'seq'), '3', `q${i} keeps its seq`)
    }
  })

  t.test('an upgraded instance brings the rooms of the versions before the room bounds under them, then removes their set', async (t) => {
    const prefix = `u${randomBytes(3).toString('hex')}:`
    const peek = new Redis(redis.url)
    t.teardown(() => peek.disconnect())
    // what a deployment of the previous version leaves: every room it ever saw in one set nothing trims, and rooms
    // whose history has no positions (gpos) and counts in no budget
    const old: string[] = []
    for (let i = 0; i < 3000; i++) old.push(`gone-${i}`) // listed, their keys long gone
    await peek.sadd(`${prefix}rooms`, 'o1', 'o2', ...old)
    const raws: string[] = []
    for (let seq = 1; seq <= 4; seq++) {
      raws.push(JSON.stringify({ type: 'message', id: `old-${seq}`, room: 'o1', seq, from: 'Old', text: `old ${seq} ${'é'.repeat(seq)}`, ts: Date.now() }))
    }
    await peek.hset(`${prefix}room:{o1}:meta`, 'epoch', 'OLD', 'seq', 4)
    await peek.rpush(`${prefix}room:{o1}:hist`, ...raws)
    await peek.hset(`${prefix}room:{o2}:meta`, 'epoch', 'OLD2', 'seq', 0)
    const bytesOf = (list: string[]) => list.reduce((sum, raw) => sum + Buffer.byteLength(raw), 0)

    const a = await listen(t, { REDIS_URL: redis.url, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, HISTORY_SIZE: '4' })
    await waitFor(async () => await peek.exists(`${prefix}rooms`) === 0, 'the old set to be removed')
    t.equal(await peek.llen(`${prefix}room:{o1}:gpos`), 4, 'each held message has a position')
    t.equal(Number(await peek.hget(`${prefix}hist:rooms`, 'o1')), bytesOf(raws), 'the room counts its bytes')
    t.equal(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')), bytesOf(raws), 'and so does the budget')
    t.same(await peek.zrange(`${prefix}hist:order`, '0', '-1'), ['o1'])
    t.same((await peek.zrange(`${prefix}rooms:active`, '0', '-1')).sort(), ['o1', 'o2'], 'the old rooms are held; the gone ones are not')
    t.same((await peek.zrange(`${prefix}rooms:idle`, '0', '-1')).sort(), ['o1', 'o2'], 'without members: evictable')

    // the next publish trims it like any room of this version, and the counts stay true
    const sent = await post(a, 'o1', 'new')
    t.match(sent.json(), { seq: 5, epoch: 'OLD' }, 'the room goes on in its epoch')
    const now = await peek.lrange(`${prefix}room:{o1}:hist`, 0, -1)
    t.same(now.map((raw) => (JSON.parse(raw) as { seq: number }).seq), [2, 3, 4, 5], 'HISTORY_SIZE dropped the oldest only')
    t.equal(await peek.llen(`${prefix}room:{o1}:gpos`), 4, 'positions in lockstep')
    t.equal(Number(await peek.hget(`${prefix}hist:budget`, 'bytes')), bytesOf(now), 'the budget is what Redis holds')
    t.equal(Number(await peek.hget(`${prefix}hist:rooms`, 'o1')), bytesOf(now))
    const resumed = await member(t, a, 'o1', '&since=1&epoch=OLD')
    t.match(resumed.welcome, { epoch: 'OLD', seq: 5, history: [{ seq: 2 }, { seq: 3 }, { seq: 4 }, { seq: 5 }] }, 'a resume across the upgrade is whole')
    t.notOk(resumed.welcome.truncated)
    t.equal(await peek.exists(`${prefix}rooms`), 0, 'nothing brings the old set back')
  })

  t.test('a publish is one script call', async (t) => {
    const { a, prefix, peek } = await pair(t, redis, { ROOM_IDLE_TTL_MS: '60000' })
    t.equal((await post(a, 'one', 'first')).statusCode, 201)
    const monitor = await peek.monitor()
    t.teardown(() => monitor.disconnect())
    const commands: string[] = []
    // a publish's script has 10 keys (the heartbeat's prune has 5); the script's own commands are listed apart
    monitor.on('monitor', (_time: string, args: string[]) => { if (args[2] === '10') commands.push(String(args[0]).toLowerCase()) })
    for (let i = 0; i < 5; i++) t.equal((await post(a, 'one', `m${i}`)).statusCode, 201)
    const seen = new Promise<void>((resolve) => monitor.on('monitor', (_time: string, args: string[]) => { if (args[1] === 'marker') resolve() }))
    await peek.echo('marker')
    await seen
    t.equal(commands.filter((c) => c === 'evalsha' || c === 'eval').length, 5, 'one script per message (touch is folded in)')
    t.ok(await peek.pttl(`${prefix}room:{one}:hist`) > 0, 'and the idle clock still runs')
  })
})
