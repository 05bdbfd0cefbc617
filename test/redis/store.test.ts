import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { build, connect, listen, waitFor } from '../helper.js'
import { RedisServer, requireRedis } from './redis-server.js'

const TOKEN = 'test-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }

/** An app on the Redis hub under a fresh prefix, and a plain client to look at the keys. */
async function setup (t: Test, redis: RedisServer, extra: Record<string, string> = {}) {
  const prefix = `s${randomBytes(3).toString('hex')}:`
  const app = await build(t, { REDIS_URL: redis.url, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, ...extra })
  const peek = new Redis(redis.url)
  t.teardown(() => peek.disconnect())
  const keys = async () => (await peek.keys(`${prefix}*`)).filter((k) => !k.startsWith(`${prefix}inst`)).sort()
  return { app, prefix, peek, keys }
}

t.test('redis store', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)

  t.test('reads of unknown rooms are 404 and leave no key in Redis', async (t) => {
    const { app, keys } = await setup(t, redis)
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
    const hist = await app.inject('/rooms/real/history')
    t.equal(hist.statusCode, 200)
    t.match(hist.json(), { room: 'real', seq: 1, truncated: false, messages: [{ text: 'x', seq: 1 }] })
    t.match((await app.inject('/rooms/real')).json(), { room: 'real', members: [], seq: 1 })
  })

  t.test('GET /rooms pages by name from meta and member counts, never reading history', async (t) => {
    const { app, peek, prefix } = await setup(t, redis)
    for (const room of ['c', 'a', 'b', 'd']) {
      t.equal((await app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { text: room }, headers: auth })).statusCode, 201)
    }
    // a room whose keys are gone (expired) but still in the set (not yet pruned) is left out
    await peek.zadd(`${prefix}rooms:active`, 1, 'expired')
    const monitor = await peek.monitor() // a connection of its own
    t.teardown(() => monitor.disconnect())
    const commands: string[] = []
    monitor.on('monitor', (_time: string, args: string[]) => commands.push(String(args[0]).toLowerCase()))
    const first = await app.inject('/rooms?limit=2')
    t.match(first.json(), [{ room: 'a', seq: 1, members: 0 }, { room: 'b', seq: 1 }])
    t.equal(first.headers['x-next-cursor'], 'b')
    const second = await app.inject('/rooms?limit=2&cursor=b')
    t.match(second.json(), [{ room: 'c' }, { room: 'd' }])
    t.equal(second.headers['x-next-cursor'], 'd', 'one more name was in the set')
    const third = await app.inject('/rooms?limit=2&cursor=d')
    t.same(third.json(), [], 'the expired room is not listed')
    t.equal(third.headers['x-next-cursor'], undefined)
    // MONITOR shows commands in the order Redis ran them: once it shows this ECHO it has shown the pages
    const seen = new Promise<void>((resolve) => monitor.on('monitor', (_time: string, args: string[]) => { if (args[1] === 'marker') resolve() }))
    await peek.echo('marker')
    await seen
    t.notOk(commands.includes('lrange'), 'history was never read')
    t.notOk(commands.includes('evalsha') || commands.includes('eval'), 'no script ran')
    t.ok(commands.includes('hmget'))
  })

  t.test('ROOM_IDLE_TTL_MS: keys expire once no member holds the room; a later resume is truncated', async (t) => {
    const prefix = `i${randomBytes(3).toString('hex')}:`
    const { app, ws } = await listen(t, { REDIS_URL: redis.url, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, ROOM_IDLE_TTL_MS: '400' })
    const peek = new Redis(redis.url)
    t.teardown(() => peek.disconnect())
    const meta = `${prefix}room:{idle}:meta`
    const hist = `${prefix}room:{idle}:hist`
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
    while (await peek.exists(`${prefix}room:{idle}:members`) === 1) await new Promise((resolve) => setTimeout(resolve, 20))
    t.ok(await peek.pttl(meta) > 0, 'the last member gone: the clock starts')
    while (await peek.exists(meta) === 1) await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(await peek.exists(hist), 0, 'history went with it')
    t.equal((await app.inject('/rooms/idle')).statusCode, 404)
    t.same((await app.inject('/rooms')).json(), [], 'the listing leaves it out')
    await waitFor(async () => await peek.zscore(`${prefix}rooms:active`, 'idle') === null, 'a heartbeat to prune the room')
    t.equal(await peek.zscore(`${prefix}rooms:idle`, 'idle'), null, 'the room sets forgot it')
    const back = await connect(t, `${ws}/ws/chat/idle?name=M&since=2&epoch=${String(welcome.epoch)}`)
    t.match(await back.frames.next('welcome'), { truncated: true, seq: 0 }, 'a resume of the dropped room is told it lost messages')
  })
})
