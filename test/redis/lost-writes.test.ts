import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { connect, listen } from '../helper.js'
import { freePort, RedisServer, requireRedis } from './redis-server.js'

// Redis that goes back in time (restarted from an older dump, flushed) must never let one (epoch, seq) name
// two messages: the affected rooms get a new epoch before they accept more, members still get the new
// messages, and every resume across the loss is told `truncated`.
const TOKEN = 'test-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }

async function setup (t: Test, redis: RedisServer) {
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: `l${randomBytes(3).toString('hex')}:`, API_TOKEN: TOKEN }
  const a = await listen(t, env)
  const b = await listen(t, env)
  const onA = await connect(t, `${a.ws}/ws/chat/lw?name=OnA`)
  const onB = await connect(t, `${b.ws}/ws/chat/lw?name=OnB`)
  const welcome = await onA.frames.next('welcome')
  await onB.frames.next('welcome')
  const publish = async (app: typeof a, text: string, cid?: string) => await app.app.inject({
    method: 'POST', url: '/rooms/lw/messages', headers: auth, payload: cid === undefined ? { text } : { text, cid }
  })
  return { a, b, onA, onB, epoch: String(welcome.epoch), publish }
}

/** A redis-server that keeps its dump (written by SAVE only) in a fresh directory, read back when restarted. */
async function dumpedRedis (t: Test, args: string[] = []): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rt-dump-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const redis = new RedisServer(await freePort(), { dir, args })
  await redis.start()
  t.teardown(async () => await redis.stop())
  return redis
}

async function waitFor (check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('redis state that went back in time', async (t) => {
  if (!requireRedis(t)) return

  t.test('restart from an older dump (SAVE, more writes, SIGKILL): new epoch, members get the new messages, resume is truncated', async (t) => {
    const redis = await dumpedRedis(t)
    const { a, b, onA, onB, epoch, publish } = await setup(t, redis)
    for (let i = 1; i <= 5; i++) t.equal((await publish(a, `m${i}`)).statusCode, 201)
    const admin = new Redis(redis.url)
    t.equal(await admin.save(), 'OK')
    admin.disconnect()
    for (let i = 6; i <= 10; i++) t.equal((await publish(a, `m${i}`)).statusCode, 201)
    await onA.frames.next((f) => f.seq === 10)
    await onB.frames.next((f) => f.seq === 10)

    await redis.stop() // SIGKILL: 6-10 were never saved
    await redis.start() // same port, same dir: back at seq 5
    await waitFor(async () => (await a.app.inject('/ready')).statusCode === 200 && (await b.app.inject('/ready')).statusCode === 200)

    // published on b: b heard 6-10 on the channel, so it must not reuse seq 6 in the old epoch
    const res = await publish(b, 'after the loss', 'after-1')
    t.equal(res.statusCode, 201)
    const after = res.json()
    t.not(after.epoch, epoch, 'a new epoch before the first new message')
    t.equal(after.seq, 1)
    t.match(await onA.frames.next((f) => f.text === 'after the loss'), { seq: 1 }, 'members on the other instance get it')
    t.match(await onB.frames.next((f) => f.text === 'after the loss'), { seq: 1 }, 'members on the publishing instance get it')
    for (const since of [10, 5, 3]) {
      const h = (await a.app.inject({ url: `/rooms/lw/history?since=${since}&epoch=${epoch}`, headers: auth })).json()
      t.equal(h.truncated, true, `resume from ${since} in the old epoch is truncated`)
      t.equal(h.epoch, after.epoch)
    }
    const resumed = await connect(t, `${b.ws}/ws/chat/lw?name=Back&since=10&epoch=${epoch}`)
    t.match(await resumed.frames.next('welcome'), { truncated: true, epoch: after.epoch })
    const retry = await publish(a, 'after the loss', 'after-1')
    t.match(retry.json(), { seq: 1, epoch: after.epoch, duplicate: true }, 'the retry through the other instance gets the original')
  })

  t.test('only a restarted Redis, nothing published by the instance that heard: the identity check re-epochs on reconnect', async (t) => {
    const redis = await dumpedRedis(t)
    const { a, onA, epoch, publish } = await setup(t, redis)
    for (let i = 1; i <= 3; i++) await publish(a, `m${i}`)
    const admin = new Redis(redis.url)
    await admin.save()
    admin.disconnect()
    for (let i = 4; i <= 6; i++) await publish(a, `m${i}`)
    await onA.frames.next((f) => f.seq === 6)
    await redis.stop()
    await redis.start()
    // read straight from Redis: the instances re-epoch the room as soon as they reconnect, before any publish
    const raw = new Redis(redis.url)
    t.teardown(() => raw.disconnect())
    const metaKey = (await raw.keys('*room:{lw}:meta'))[0]!
    await waitFor(async () => (await raw.hget(metaKey, 'epoch')) !== epoch)
    t.equal(await raw.hget(metaKey, 'seq'), '0', 'seq restarts with the new epoch')
    t.equal(await raw.llen(metaKey.replace(/meta$/, 'hist')), 0, 'the old epoch history is gone with it')
  })

  t.test('same server reloaded from an older dump (no reconnect): the seq check in the publish script, and an instance that heard a seq reused', async (t) => {
    const redis = await dumpedRedis(t, ['--enable-debug-command', 'yes'])
    const { a, b, onA, onB, epoch, publish } = await setup(t, redis)
    for (let i = 1; i <= 2; i++) await publish(a, `m${i}`)
    const admin = new Redis(redis.url)
    t.teardown(() => admin.disconnect())
    await admin.save()
    for (let i = 3; i <= 4; i++) await publish(a, `m${i}`)
    await onB.frames.next((f) => f.seq === 4)
    await admin.call('DEBUG', 'RELOAD', 'NOSAVE') // back at seq 2, same run_id: no reconnect to notice it
    const res = (await publish(b, 'checked by the script')).json()
    t.not(res.epoch, epoch, 'the publish script saw seq 2 below the 4 b had heard: new epoch')
    t.equal(res.seq, 1)
    t.match(await onA.frames.next((f) => f.text === 'checked by the script'), { seq: 1 })

    // a fresh instance remembers nothing and reuses seq 2 of the new epoch after another reload; the others heard it
    await admin.save()
    for (let i = 2; i <= 3; i++) await publish(a, `n${i}`)
    await onB.frames.next((f) => f.text === 'n3')
    const c = await listen(t, { REDIS_URL: redis.url, REDIS_PREFIX: (await admin.keys('*room:{lw}:meta'))[0]!.replace(/room:\{lw\}:meta$/, ''), API_TOKEN: TOKEN })
    await admin.call('DEBUG', 'RELOAD', 'NOSAVE')
    const reused = (await publish(c, 'reused seq')).json()
    t.match(reused, { epoch: res.epoch, seq: 2 }, 'c could not know')
    const metaKey = (await admin.keys('*room:{lw}:meta'))[0]!
    await waitFor(async () => (await admin.hget(metaKey, 'epoch')) !== res.epoch)
    const next = (await publish(c, 'after the reuse')).json()
    t.not(next.epoch, res.epoch, 'the instances that heard seq 2 before gave the room a new epoch')
    t.match(await onA.frames.next((f) => f.text === 'after the reuse'), { seq: 1 })
    t.notOk(onA.frames.all('message').some((f) => f.text === 'reused seq'), 'the reused seq was not delivered as if it were the old one')
  })

  t.test('FLUSHALL: new epoch, members on both instances get the new messages, resume is truncated', async (t) => {
    const redis = await RedisServer.start(t)
    const { a, b, onA, onB, epoch, publish } = await setup(t, redis)
    for (let i = 1; i <= 4; i++) await publish(a, `m${i}`)
    await onB.frames.next((f) => f.seq === 4)
    const admin = new Redis(redis.url)
    t.equal(await admin.flushall(), 'OK')
    admin.disconnect()
    const res = (await publish(a, 'after the flush')).json()
    t.not(res.epoch, epoch)
    t.equal(res.seq, 1)
    t.match(await onA.frames.next((f) => f.text === 'after the flush'), { seq: 1 })
    t.match(await onB.frames.next((f) => f.text === 'after the flush'), { seq: 1 })
    const h = (await b.app.inject({ url: `/rooms/lw/history?since=4&epoch=${epoch}`, headers: auth })).json()
    t.match(h, { truncated: true, epoch: res.epoch })
  })
})
