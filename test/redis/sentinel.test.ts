import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { connect, listen } from '../helper.js'
import { freePort, RedisServer, requireRedis, requireSentinel } from './redis-server.js'

// A master, two replicas and one Sentinel (quorum 1: one Sentinel is enough to prove the clients follow a
// failover on this machine; production runs three or more), fast failover settings; two app instances
// publishing with REDIS_ACK_REPLICAS=1; the master is SIGKILLed mid-traffic.
t.setTimeout(60_000)
const TOKEN = 'test-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }

t.test('sentinel failover with REDIS_ACK_REPLICAS=1', async (t) => {
  if (!requireSentinel(t)) return
  const dir = mkdtempSync(join(tmpdir(), 'rt-sentinel-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const master = new RedisServer(await freePort())
  await master.start()
  t.teardown(async () => await master.stop())
  const replicas: RedisServer[] = []
  for (let i = 0; i < 2; i++) {
    mkdirSync(join(dir, `r${i}`))
    // a replica writes the dump it syncs from: into the test's directory, not the working directory
    const r = new RedisServer(await freePort(), { dir: join(dir, `r${i}`), args: ['--replicaof', '127.0.0.1', String(master.port)] })
    await r.start()
    t.teardown(async () => await r.stop())
    replicas.push(r)
  }
  const admin = new Redis(master.url)
  admin.on('error', () => {}) // the master is killed on purpose
  t.teardown(() => admin.disconnect())
  await waitFor(async () => /connected_slaves:2/.test(await admin.info('replication')))
  const sentinel = new RedisServer(await freePort(), {
    dir,
    sentinel: [
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds mymaster 500',
      'sentinel failover-timeout mymaster 3000',
      'sentinel parallel-syncs mymaster 2'
    ].join('\n')
  })
  await sentinel.start()
  t.teardown(async () => await sentinel.stop())

  const env = {
    REDIS_SENTINELS: `127.0.0.1:${sentinel.port}`,
    REDIS_PREFIX: `s${randomBytes(3).toString('hex')}:`,
    REDIS_ACK_REPLICAS: '1',
    REDIS_ACK_TIMEOUT_MS: '500',
    API_TOKEN: TOKEN
  }
  const apps = [await listen(t, env), await listen(t, env)]
  const reader = await connect(t, `${apps[0]!.ws}/ws/chat/fo?name=Reader`)
  await reader.frames.next('welcome')

  /** every message the senders got 201/200 for, by cid: (epoch, seq) */
  const acked = new Map<string, { epoch: string, seq: number }>()
  const refused = new Set<string>()
  let killedAt = 0
  const ackedBeforeKill: string[] = []
  let n = 0
  const failures: string[] = []
  const publish = async (app: number, cid: string): Promise<number> => {
    const res = await apps[app]!.app.inject({ method: 'POST', url: '/rooms/fo/messages', headers: auth, payload: { text: cid, cid } })
    if (res.statusCode === 201 || res.statusCode === 200) {
      const body = res.json()
      acked.set(cid, { epoch: body.epoch, seq: body.seq })
      refused.delete(cid)
      if (killedAt === 0) ackedBeforeKill.push(cid)
    } else {
      if (res.statusCode !== 503) failures.push(`${res.statusCode} ${res.body}`)
      refused.add(cid)
      // a client's retry backoff while the failover runs
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return res.statusCode
  }
  // a client that read up to some point, then went away over the failover
  let resumeFrom: { since: number, epoch: string } | undefined

  const sender = async (app: number): Promise<void> => {
    // traffic until both instances publish again after the kill; bounded in time
    const until = Date.now() + 40_000
    let okAfterKill = 0
    while (Date.now() < until && okAfterKill < 5) {
      for (const cid of [...refused]) await publish(app, cid) // the cid makes the retry safe
      const code = await publish(app, `a${app}-${n++}`)
      if (killedAt !== 0 && code === 201) okAfterKill++
      if (killedAt === 0 && acked.size >= 20) {
        const last = acked.get(ackedBeforeKill[ackedBeforeKill.length - 1]!)!
        resumeFrom ??= { since: last.seq, epoch: last.epoch }
        if (acked.size >= 30) {
          killedAt = Date.now()
          await master.stop() // SIGKILL while the other sender is mid-request
        }
      }
    }
    t.ok(okAfterKill >= 5, `instance ${app} publishes again after the failover, without a restart`)
  }
  await Promise.all([sender(0), sender(1)])
  t.comment(`failover: both instances published again ${Date.now() - killedAt} ms after the kill`)
  t.same([...refused], [], 'every refused message was accepted on retry')
  t.same(failures, [], 'while the master was gone, publishing answered 503 (retry later), never another error')

  const h = (await apps[1]!.app.inject({ url: '/rooms/fo/history?limit=1000', headers: auth })).json() as { epoch: string, messages: Array<{ text: string, seq: number }> }
  const held = new Map(h.messages.map((m) => [m.text, m.seq]))
  const lost = ackedBeforeKill.filter((cid) => {
    const a = acked.get(cid)!
    return a.epoch !== h.epoch || held.get(cid) !== a.seq
  })
  t.same(lost, [], `every one of the ${ackedBeforeKill.length} messages acked before the kill is in history after it`)
  const seqs = h.messages.map((m) => m.seq)
  t.same(seqs, seqs.map((_, i) => (seqs[0] ?? 1) + i), 'history is gapless')

  const back = await connect(t, `${apps[1]!.ws}/ws/chat/fo?name=Back&since=${resumeFrom!.since}&epoch=${resumeFrom!.epoch}`)
  const welcome = await back.frames.next('welcome')
  const history = welcome.history as Array<{ seq: number }>
  if (welcome.truncated === true) t.pass('the resume across the failover is told truncated')
  else {
    t.equal(welcome.epoch, resumeFrom!.epoch)
    t.same(history.map((m) => m.seq), Array.from({ length: Number(welcome.seq) - resumeFrom!.since }, (_, i) => resumeFrom!.since + 1 + i), 'the resume gets exactly the missed messages')
  }
})

t.test('REDIS_ACK_REPLICAS with no replica to confirm: HTTP 503 and the unavailable frame, then the retry is safe', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: `w${randomBytes(3).toString('hex')}:`, API_TOKEN: TOKEN, REDIS_ACK_TIMEOUT_MS: '100' }
  const app = await listen(t, { ...env, REDIS_ACK_REPLICAS: '1' })
  const res = await app.app.inject({ method: 'POST', url: '/rooms/w/messages', headers: auth, payload: { text: 'hi', cid: 'w1' } })
  t.equal(res.statusCode, 503)
  t.match(res.json().message, /0 of 1 replicas/)
  const c = await connect(t, `${app.ws}/ws/chat/w?name=W`)
  await c.frames.next('welcome')
  c.ws.send(JSON.stringify({ type: 'message', text: 'hi', cid: 'w2' }))
  t.match(await c.frames.next('error'), { code: 'unavailable', cid: 'w2' })
  t.equal(c.frames.all('ack').length, 0, 'no ack without the replica')
  const relaxed = await listen(t, { ...env, REDIS_ACK_REPLICAS: '0' })
  const retry = await relaxed.app.inject({ method: 'POST', url: '/rooms/w/messages', headers: auth, payload: { text: 'hi', cid: 'w1' } })
  t.match(retry.json(), { seq: 1, duplicate: true }, 'the retry finds the message the master holds: no second copy')
})

async function waitFor (check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
