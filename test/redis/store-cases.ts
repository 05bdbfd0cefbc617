// The store's cases every Redis mode must pass (one Redis: store.test.ts; a Redis Cluster:
// redis-cluster-hub.test.ts): reads make no key, the listing never reads history, idle rooms expire. Keys are
// named through the app's own Keys (one prefix, or the `{rt-global}` tag on a Cluster) and looked up on every
// master, so one case reads the same on both.
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { Cluster, type Redis } from 'ioredis'
import type { Test } from 'tap'
import { build, connect, listen, waitFor } from '../helper.js'
import { Keys } from '../../src/hub/redis/client.js'
import { RoomLimitError, UnavailableError } from '../../src/hub/errors.js'

const TOKEN = 'test-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }

/** How to reach one Redis mode: the settings that put an app on it, and a plain client to look at its keys. */
export interface StoreMode {
  /** REDIS_URL, or REDIS_CLUSTER_NODES */
  settings: Record<string, string>
  cluster: boolean
  /** a new plain client (a Redis, or a Cluster); the case disconnects it */
  client: () => Redis | Cluster
}

/** The nodes that hold keys: the one Redis, or every master of a Cluster (once the client knows them). */
async function masters (peek: Redis | Cluster): Promise<Redis[]> {
  if (!(peek instanceof Cluster)) return [peek]
  if (peek.status !== 'ready') await once(peek, 'ready')
  return peek.nodes('master')
}

/** An app on the mode under a fresh prefix, the key layout it uses, and a plain client to look at the keys. */
async function setup (t: Test, mode: StoreMode, extra: Record<string, string> = {}) {
  const prefix = `s${randomBytes(3).toString('hex')}:`
  const app = await build(t, { ...mode.settings, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, ...extra })
  const peek = mode.client()
  t.teardown(() => peek.disconnect())
  const layout = new Keys(prefix, mode.cluster)
  // an instance's heartbeat keys are there whatever the requests: left out
  const mine = (k: string) => !k.startsWith(layout.inst('')) && k !== layout.instances
  const keys = async () => {
    const all: string[] = []
    for (const node of await masters(peek)) for (const k of await node.keys(`${prefix}*`)) if (mine(k)) all.push(k)
    return all.sort()
  }
  return { app, layout, peek, keys }
}

export function storeCases (t: Test, mode: StoreMode): void {
  t.test('reads of unknown rooms are 404 and leave no key in Redis', async (t) => {
    const { app, keys } = await setup(t, mode)
    for (let i = 0; i < 300; i++) {
      const detail = await app.inject(`/rooms/ghost-${i}`)
      t.equal(detail.statusCode, 404)
      t.same(detail.json(), { statusCode: 404, error: 'Not Found', message: `no room ghost-${i}` })
      const hist = await app.inject(`/rooms/ghost-h${i}/history?since=2&epoch=e`)
      t.equal(hist.statusCode, 404)
    }
    t.same(await keys(), [], '600 reads made no key (meta, hist, rooms set)')
    t.same((await app.inject('/rooms')).json(), [])
    t.equal((await app.inject({ method: 'POST', url: '/rooms/real/messages', payload: { text: 'x' }, headers: auth })).statusCode, 201)
    t.not((await keys()).length, 0, 'a publish makes keys, which the lookup finds')
    const hist = await app.inject('/rooms/real/history')
    t.equal(hist.statusCode, 200)
    t.match(hist.json(), { room: 'real', seq: 1, truncated: false, messages: [{ text: 'x', seq: 1 }] })
    t.match((await app.inject('/rooms/real')).json(), { room: 'real', members: [], seq: 1 })
  })

  t.test('GET /rooms pages by name from meta and member counts, never reading history', async (t) => {
    const { app, peek, layout } = await setup(t, mode)
    for (const room of ['c', 'a', 'b', 'd']) {
      t.equal((await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { text: room }, headers: auth })).statusCode, 201)
    }
    // a room whose keys are gone (expired) but still in the set (not yet pruned) is left out
    await peek.zadd(layout.active, 1, 'expired')
    // a MONITOR on every node that holds keys (each a connection of its own)
    const nodes = await masters(peek)
    const commands: string[] = []
    const seen: Array<Promise<void>> = []
    for (const node of nodes) {
      const monitor = await node.monitor()
      t.teardown(() => monitor.disconnect())
      monitor.on('monitor', (_time: string, args: string[]) => commands.push(String(args[0]).toLowerCase()))
      seen.push(new Promise<void>((resolve) => monitor.on('monitor', (_time: string, args: string[]) => { if (args[1] === 'marker') resolve() })))
    }
    const first = await app.inject('/rooms?limit=2')
    t.match(first.json(), [{ room: 'a', seq: 1, members: 0 }, { room: 'b', seq: 1 }])
    t.equal(first.headers['x-next-cursor'], 'b')
    const second = await app.inject('/rooms?limit=2&cursor=b')
    t.match(second.json(), [{ room: 'c' }, { room: 'd' }])
    t.equal(second.headers['x-next-cursor'], 'd', 'one more name was in the set')
    const third = await app.inject('/rooms?limit=2&cursor=d')
    t.same(third.json(), [], 'the expired room is not listed')
    t.equal(third.headers['x-next-cursor'], undefined)
    // MONITOR shows commands in the order Redis ran them: once each shows this ECHO it has shown the pages
    for (const node of nodes) await node.echo('marker')
    await Promise.all(seen)
    t.notOk(commands.includes('lrange'), 'history was never read')
    t.notOk(commands.includes('evalsha') || commands.includes('eval'), 'no script ran')
    t.ok(commands.includes('hmget'))
  })

  t.test('MAX_ROOMS raced: two instances pass canCreate for the last place, the join that comes second is a RoomLimitError', async (t) => {
    const prefix = `r${randomBytes(3).toString('hex')}:`
    const settings = { ...mode.settings, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, MAX_ROOMS: '1' }
    const a = await build(t, settings)
    const b = await build(t, settings)
    t.ok(await a.hub.store.canCreate('first'), 'one place is free')
    t.ok(await b.hub.store.canCreate('second'), 'and free for the other instance too')
    await a.hub.store.join('first', { key: 'ka', name: 'A' })
    const lost = await b.hub.store.join('second', { key: 'kb', name: 'B' }).then(() => undefined, (err: unknown) => err)
    t.type(lost, RoomLimitError, 'refused for the room limit, not as an outage')
    t.notOk(lost instanceof UnavailableError)
    t.match((lost as Error).message, /room limit reached/)
    t.same(await b.hub.store.members('first'), ['A'], 'the winner holds the place')
    t.equal(await b.hub.store.summary('second'), undefined, 'the loser left no room behind')
    t.equal((await b.inject({ method: 'POST', url: '/rooms/first/messages', payload: { text: 'x' }, headers: auth })).statusCode, 201, 'and its instance still serves held rooms')
  })

  t.test('MAX_ROOMS raced on a hub socket: the subscribe that loses is refused, room limit reached, and the socket stays', async (t) => {
    const prefix = `r${randomBytes(3).toString('hex')}:`
    const settings = { ...mode.settings, REDIS_PREFIX: prefix, MAX_ROOMS: '1' }
    const a = await listen(t, settings)
    const b = await listen(t, settings)
    const store = b.app.hub.store
    const check = store.canCreate.bind(store)
    // the other instance takes the last place between this instance's check and its join
    store.canCreate = async (room: string) => {
      const free = await check(room)
      await a.app.hub.store.join('first', { key: 'ka', name: 'A' })
      return free
    }
    const c = await connect(t, `${b.ws}/ws/hub?name=B`)
    const reply = c.frames.next((f) => f.ref === 1)
    c.ws.send(JSON.stringify({ type: 'subscribe', room: 'second', ref: 1 }))
    t.match(await reply, { type: 'error', code: 'unavailable', message: 'room limit reached: try again later', ref: 1 })
    t.same(await a.app.hub.store.members('first'), ['A'], 'the other instance\'s room holds the place')
    const again = c.frames.next((f) => f.ref === 2)
    c.ws.send(JSON.stringify({ type: 'subscribe', room: 'first', ref: 2 }))
    t.match(await again, { type: 'subscribed', room: 'first', ref: 2 }, 'the socket still works: a held room takes it')
  })

  t.test('HISTORY_TTL_MS: expired messages leave the byte budget at the next write to their room, or the heartbeat', async (t) => {
    const TTL = 300
    const run = async (beat: string) => {
      const prefix = `e${randomBytes(3).toString('hex')}:`
      const app = await build(t, { ...mode.settings, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, HISTORY_TTL_MS: String(TTL), PRESENCE_TTL_MS: beat })
      const layout = new Keys(prefix, mode.cluster)
      let last = 0
      for (const room of ['x', 'x', 'y']) {
        t.equal((await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { text: `old in ${room}` }, headers: auth })).statusCode, 201)
        last = Date.now() // after the reply: at or past the message's ts
      }
      await waitFor(() => Date.now() > last + TTL, 'the history TTL to pass', TTL + 5000)
      return { app, layout, budget: async () => Number(await peek.hget(layout.budget, 'bytes')) }
    }
    const peek = mode.client()
    t.teardown(() => peek.disconnect())
    const held = async (layout: Keys, room: string) => {
      let bytes = 0
      for (const raw of await peek.lrange(layout.room(room, 'hist'), 0, -1)) bytes += Buffer.byteLength(raw)
      return bytes
    }

    // the heartbeat out of the way: the publish does it
    const quiet = await run('600000')
    t.equal((await quiet.app.inject({ method: 'POST', url: '/rooms/x/messages', payload: { text: 'new' }, headers: auth })).statusCode, 201)
    t.equal(await peek.llen(quiet.layout.room('x', 'hist')), 1, 'x holds only the new message')
    t.equal(await peek.llen(quiet.layout.room('x', 'gpos')), 1)
    t.equal(Number(await peek.hget(quiet.layout.roomBytes, 'x')), await held(quiet.layout, 'x'), 'x counts only it')
    t.equal(await quiet.budget(), await held(quiet.layout, 'x') + await held(quiet.layout, 'y'), 'the budget lost x\'s expired bytes (y is not read yet)')

    // nobody reads or writes: the heartbeat does it
    const beating = await run('300')
    await waitFor(async () => await beating.budget() === 0, 'the heartbeat to take the expired bytes out')
    t.equal(await peek.zcard(beating.layout.order), 0, 'no room in the global order')
    t.same(await peek.hgetall(beating.layout.roomBytes), {}, 'no room counts bytes')
    t.equal(await peek.exists(beating.layout.room('x', 'hist')), 0, 'the lists are gone')
    t.equal(await peek.hget(beating.layout.room('x', 'meta'), 'seq'), '2', 'the room keeps its seq')
  })

  t.test('ROOM_IDLE_TTL_MS: keys expire once no member holds the room; a later resume is truncated', async (t) => {
    const prefix = `i${randomBytes(3).toString('hex')}:`
    const { app, ws } = await listen(t, { ...mode.settings, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, ROOM_IDLE_TTL_MS: '400' })
    const peek = mode.client()
    t.teardown(() => peek.disconnect())
    const layout = new Keys(prefix, mode.cluster)
    const meta = layout.room('idle', 'meta')
    const hist = layout.room('idle', 'hist')
    t.equal((await app.inject({ method: 'POST', url: '/rooms/idle/messages', payload: { text: 'one' }, headers: auth })).statusCode, 201)
    t.ok(await peek.pttl(meta) > 0, 'a room with no members expires after a publish')
    t.ok(await peek.pttl(hist) > 0, 'its history too')
    const member = await connect(t, `${ws}/ws/chat/idle?name=M`)
    const welcome = await member.frames.next('welcome')
    t.equal(await peek.pttl(meta), -1, 'a member holds it: no expiry')
    member.ws.send(JSON.stringify({ type: 'message', text: 'two', cid: 'c2' }))
    await member.frames.next('ack')
    t.equal(await peek.pttl(hist), -1, 'a publish while members are present does not start the clock')
    member.ws.close()
    await waitFor(async () => await peek.exists(layout.room('idle', 'members')) === 0, 'the member to leave')
    t.ok(await peek.pttl(meta) > 0, 'the last member gone: the clock starts')
    await waitFor(async () => await peek.exists(meta) === 0, 'the room to expire')
    t.equal(await peek.exists(hist), 0, 'history went with it')
    t.equal((await app.inject('/rooms/idle')).statusCode, 404)
    t.same((await app.inject('/rooms')).json(), [], 'the listing leaves it out')
    await waitFor(async () => await peek.zscore(layout.active, 'idle') === null, 'a heartbeat to prune the room', 15_000)
    t.equal(await peek.zscore(layout.idle, 'idle'), null, 'the room sets forgot it')
    const back = await connect(t, `${ws}/ws/chat/idle?name=M&since=2&epoch=${String(welcome.epoch)}`)
    t.match(await back.frames.next('welcome'), { truncated: true, seq: 0 }, 'a resume of the dropped room is told it lost messages')
  })
}
