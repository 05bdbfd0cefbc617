// The hub on a real Redis Cluster (REDIS_CLUSTER_NODES): the behaviours test/redis/cluster.test.ts and
// store.test.ts check on one Redis — seq, history, resume, dedupe, presence across instances, the dead-instance
// sweep, the room bounds across slots — and a master killed under acked traffic, where a resume gets every
// acked message or is told (truncated, or a new epoch).
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Cluster } from 'ioredis'
import { closed, connect, listen, type Frames } from '../helper.js'
import { startServer } from '../server-process.js'
import { RedisCluster, requireCluster } from './cluster-harness.js'
import { crossInstanceDelivery, gapAcrossResubscribe, sharedHubCases } from './hub-cases.js'
import { PROTOCOL_SETTINGS, protocolCases } from './protocol-cases.js'
import { storeCases } from './store-cases.js'

const TOKEN = 'test-token-0123456789abcdef'
const auth = { authorization: `Bearer ${TOKEN}` }

async function joined (t: Test, url: string) {
  const c = await connect(t, url)
  const welcome = await c.frames.next('welcome')
  return { ...c, welcome }
}

const seqs = (f: Frames) => f.all('message').map((m) => m.seq)

async function waitFor (check: () => Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('the hub on a Redis Cluster', async (t) => {
  if (!requireCluster(t)) return
  const cluster = await RedisCluster.start(t, { timeoutMs: 30_000 })
  const raw = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { clusterRetryStrategy: () => 100 })
  t.teardown(() => raw.disconnect())

  /** N app instances on the cluster under a fresh prefix. */
  const instances = async (t: Test, n: number, extra: Record<string, string> = {}) => {
    const prefix = `c${randomBytes(3).toString('hex')}:`
    const out = []
    for (let i = 0; i < n; i++) {
      out.push(await listen(t, { REDIS_CLUSTER_NODES: cluster.spec, REDIS_PREFIX: prefix, API_TOKEN: TOKEN, CHAT_RATE_BURST: '1000', CHAT_RATE_PER_SEC: '1000', ...extra }))
    }
    return { apps: out, prefix }
  }

  // the multi-room protocol (data messages, signals on the sharded channel, personal streams), as on one Redis
  protocolCases(t, async (t) => {
    const { apps: [a, b] } = await instances(t, 2, PROTOCOL_SETTINGS)
    return [a!, b!] as const
  })

  t.test('cross-instance delivery, presence, HTTP publish and the listing, each once', async (t) => {
    const { apps: [a, b] } = await instances(t, 2)
    t.equal((await a!.app.inject('/ready')).statusCode, 200, 'ready on the cluster')
    await crossInstanceDelivery(t, a!, b!, a!, b!)
  })

  t.test('gapless seq per room under concurrent publishers, rooms spread over the masters', async (t) => {
    const { apps } = await instances(t, 2)
    const rooms = ['r1', 'r2', 'r3', 'r4']
    const masters = new Set(rooms.map((r) => cluster.masterOf(`{${r}}`)))
    t.ok(masters.size >= 2, `the rooms live on ${masters.size} masters`)
    for (const room of rooms) {
      const readers = await Promise.all(apps.map(async (i, n) => await joined(t, `${i.ws}/ws/chat/${room}?name=R${n}`)))
      const senders = await Promise.all(apps.map(async (i, n) => await joined(t, `${i.ws}/ws/chat/${room}?name=S${n}`)))
      for (let k = 0; k < 20; k++) senders.forEach((s, n) => s.ws.send(JSON.stringify({ type: 'message', text: `m${k}`, cid: `s${n}-c${k}` })))
      const expected = Array.from({ length: 40 }, (_, i) => i + 1)
      for (const r of readers) {
        await r.frames.next((f) => f.seq === 40, 10000)
        t.same(seqs(r.frames), expected, `${room}: every reader gets 1..40 in order, once`)
      }
    }
  })

  t.test('sharded routing: only instances with members subscribe, on the room\'s master', async (t) => {
    const { apps: [a, b], prefix } = await instances(t, 2)
    const channel = `${prefix}room:{route}:ch`
    const port = cluster.masterOf(channel)
    if (port === undefined) throw new Error('no master for the channel')
    const numsub = () => Number(cluster.cli(port, 'PUBSUB', 'SHARDNUMSUB', channel).split('\n')[1])
    t.equal(numsub(), 0)
    const m = await joined(t, `${a!.ws}/ws/chat/route?name=M`)
    t.equal(numsub(), 1, 'subscribed before the welcome')
    const other = await joined(t, `${b!.ws}/ws/chat/route?name=O`)
    t.equal(numsub(), 2)
    other.ws.close()
    await closed(other.ws)
    await waitFor(async () => numsub() === 1)
    m.ws.close()
    await closed(m.ws)
    await waitFor(async () => numsub() === 0)
  })

  // resume and dedupe across instances, cids per sender, a user's tabs on two instances: as on one Redis
  sharedHubCases(t, async (t, n, extra) => (await instances(t, n, extra)).apps)

  // reads make no key, the listing never reads history, idle rooms expire: as on one Redis (store.test.ts)
  storeCases(t, {
    settings: { REDIS_CLUSTER_NODES: cluster.spec },
    cluster: true,
    client: () => new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { clusterRetryStrategy: () => 100 })
  })

  t.test('room bounds across slots: MAX_ROOMS evicts a room on another master, HISTORY_MAX_BYTES trims the oldest room', async (t) => {
    const { apps: [a, b], prefix } = await instances(t, 2, { MAX_ROOMS: '2', HISTORY_MAX_BYTES: '2048' })
    const post = async (app: typeof a, room: string, text: string) =>
      (await app!.app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { text }, headers: auth })).statusCode
    t.equal(await post(a, 'old', 'x'.repeat(600)), 201)
    t.equal(await post(b, 'mid', 'y'), 201)
    const keep = await joined(t, `${a!.ws}/ws/chat/mid?name=K`)
    t.equal(await post(b, 'new', 'z'), 201, 'a third room evicts the one without members')
    t.equal((await a!.app.inject('/rooms/old')).statusCode, 404, 'the evicted room is gone')
    t.equal(await raw.exists(`${prefix}room:{old}:meta`), 0, 'its keys are deleted on its own master')
    t.same((await a!.app.inject('/rooms')).json().map((r: { room: string }) => r.room), ['mid', 'new'])
    keep.ws.close()
    await closed(keep.ws)
    const hold = await joined(t, `${a!.ws}/ws/chat/new?name=H`)
    const full = await joined(t, `${b!.ws}/ws/chat/mid?name=F`)
    t.equal(await post(a, 'third', 'w'), 503, 'every held room has members: refused')
    for (let i = 0; i < 6; i++) t.equal(await post(b, 'new', `${i}:${'n'.repeat(500)}`), 201)
    const held = (await a!.app.inject('/rooms/new/history')).json().messages as unknown[]
    t.ok(held.length < 6, `the byte budget trimmed the room to ${held.length} messages`)
    const mid = (await a!.app.inject('/rooms/mid/history')).json().messages as unknown[]
    t.equal(mid.length, 0, 'the room holding the globally oldest message went first')
    const budget = Number(await raw.hget(`${prefix}{rt-global}:hist:budget`, 'bytes'))
    t.ok(budget <= 2048 && budget > 0, `the shared byte count is within the budget (${budget})`)
    hold.ws.close(); full.ws.close()
  })

  t.test('members of an instance that dies disappear within the presence TTL', async (t) => {
    const prefix = `d${randomBytes(3).toString('hex')}:`
    const env = { REDIS_CLUSTER_NODES: cluster.spec, REDIS_PREFIX: prefix, PRESENCE_TTL_MS: '900' }
    const survivor = await listen(t, env)
    const doomed = await startServer(t, env)
    const watcher = await joined(t, `${survivor.ws}/ws/chat/d1?name=Watcher`)
    const victims = [await joined(t, `ws://127.0.0.1:${doomed.port}/ws/chat/d1?name=Victim`), await joined(t, `ws://127.0.0.1:${doomed.port}/ws/chat/d2?name=Victim2`)]
    t.same(victims[0]!.welcome.members, ['Watcher', 'Victim'])
    await watcher.frames.next('join')
    doomed.child.kill('SIGKILL')
    const killedAt = Date.now()
    t.match(await watcher.frames.next('leave', 5000), { name: 'Victim' })
    t.ok(Date.now() - killedAt < 1800, 'within the TTL and one sweep')
    t.same((await survivor.app.inject('/rooms/d1')).json().members, ['Watcher'])
    // a room left with no member and no history is forgotten at once (404), as on one Redis
    await waitFor(async () => {
      const res = await survivor.app.inject('/rooms/d2')
      return res.statusCode === 404 || res.json().members.length === 0
    })
    t.pass('the member in a room on another slot is swept too')
  })

  t.test('subscriber connections killed under traffic: every watched room is subscribed again, the gap filled', async (t) => {
    const { apps: [a, b] } = await instances(t, 2)
    // every node's pub/sub connections, mid-stream
    await gapAcrossResubscribe(t, a!, b!, async () => {
      let killed = 0
      for (const node of cluster.nodes) killed += Number(cluster.cli(node.port, 'CLIENT', 'KILL', 'TYPE', 'pubsub').trim())
      t.ok(killed >= 2, `${killed} subscriber connections killed`)
    })
  })

  // last: it kills a master (its replica takes over; the old master comes back as its replica)
  t.test('a master killed under acked traffic: a resume gets every acked message or is told', async (t) => {
    const { apps: [a, b] } = await instances(t, 2, { REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT_MS: '500' })
    const room = 'fo'
    const reader = await joined(t, `${b!.ws}/ws/chat/${room}?name=Reader`)
    const pub = await joined(t, `${a!.ws}/ws/chat/${room}?name=Pub`)
    const acked: number[] = []
    const refused: string[] = []
    const port = cluster.masterOf(`{${room}}`)
    if (port === undefined) throw new Error('no master for the room')
    const send = async (cid: string) => {
      pub.ws.send(JSON.stringify({ type: 'message', text: cid, cid }))
      const reply = await pub.frames.next((f) => f.cid === cid && (f.type === 'ack' || f.type === 'error'), 15000)
      if (reply.type === 'ack') acked.push(Number(reply.seq))
      else refused.push(String(reply.code))
      return reply.type
    }
    for (let i = 0; i < 15; i++) t.equal(await send(`c${i}`), 'ack')
    await cluster.kill(port)
    // the publisher keeps sending while the replica takes over: each message is acked or refused
    for (let i = 15; cluster.masterOf(`{${room}}`) === port || cluster.masterOf(`{${room}}`) === undefined; i++) {
      if (i > 200) throw new Error('no failover')
      await send(`c${i}`)
    }
    const now = await cluster.failedOver(`{${room}}`, port)
    t.not(now, port, 'a replica holds the room\'s slot')
    t.ok(refused.every((c) => c === 'unavailable'), `${acked.length} acked, ${refused.length} refused, each as unavailable: never a silent drop`)
    // the killed node comes back as the new master's replica: acks (WAIT 1) can be given again
    await cluster.restart([port])
    await waitFor(async () => await send('after') === 'ack', 15000)
    const back = await joined(t, `${b!.ws}/ws/chat/${room}?name=Back&since=0&epoch=${String(reader.welcome.epoch)}`)
    if (back.welcome.truncated === true || back.welcome.epoch !== reader.welcome.epoch) {
      t.pass('the resume is told it lost messages (truncated or a new epoch)')
    } else {
      const have = new Set((back.welcome.history as Array<{ seq: number }>).map((m) => m.seq))
      const missing = acked.filter((s) => !have.has(s))
      t.same(missing, [], 'every acked message is in the history the resume gets')
    }
    t.pass('the room takes acked messages again')
  })

  // after the failover: every node down, then back empty (no persistence here)
  t.test('the whole cluster lost and back: refused while down, a resume is told what was lost; an app started while it is down becomes ready', async (t) => {
    const { apps: [a, b] } = await instances(t, 2)
    const client = await joined(t, `${a!.ws}/ws/chat/f?name=Client`)
    client.ws.send(JSON.stringify({ type: 'message', text: 'kept?', cid: 'k1' }))
    const ack = await client.frames.next('ack')
    const ports = cluster.nodes.filter((n) => n.child !== undefined).map((n) => n.port)
    await Promise.all(ports.map(async (p) => await cluster.kill(p)))
    await waitFor(async () => (await a!.app.inject('/ready')).statusCode === 503)
    t.match((await a!.app.inject('/ready')).json().reason, /redis/, '/ready says why')
    client.ws.send(JSON.stringify({ type: 'message', text: 'lost?', cid: 'down-1' }))
    t.match(await client.frames.next((f) => f.cid === 'down-1'), { type: 'error', code: 'unavailable' }, 'refused, never silently dropped')
    client.ws.close()
    // down at start: a process started while every node is stopped starts, says why it is not ready, refuses chat
    // (one kill and restart of the whole cluster serves both: a second in a row may not come back in time)
    const late = await listen(t, { REDIS_CLUSTER_NODES: cluster.spec, REDIS_PREFIX: `z${randomBytes(3).toString('hex')}:`, API_TOKEN: TOKEN })
    const notReady = await late.app.inject('/ready')
    t.equal(notReady.statusCode, 503, 'started with the cluster down: not ready')
    t.match(notReady.json().reason, /redis/, 'and says why')
    t.equal((await late.app.inject('/health')).statusCode, 200, 'the process is up')
    t.match((await late.app.inject('/metrics')).body, /^rt_backplane_up 0$/m, 'the backplane state is a metric')
    const refusedChat = await connect(t, `${late.ws}/ws/chat/z?name=Z`)
    t.equal((await closed(refusedChat.ws))[0], 4003, 'chat refused while the cluster is down')
    await cluster.restart(ports, 20_000)
    await waitFor(async () => (await a!.app.inject('/ready')).statusCode === 200 && (await b!.app.inject('/ready')).statusCode === 200, 20_000)
    await waitFor(async () => (await b!.app.inject({ method: 'POST', url: '/rooms/f/messages', payload: { text: 'while you were away' }, headers: auth })).statusCode === 201)
    const back = await joined(t, `${a!.ws}/ws/chat/f?name=Client&since=${String(ack.seq)}&epoch=${String(ack.epoch)}`)
    t.ok(back.welcome.truncated === true || back.welcome.epoch !== ack.epoch, 'the cluster lost its data: the client is told (truncated or a new epoch)')
    t.same((back.welcome.history as Array<{ text: string }>).map((m) => m.text), ['while you were away'])
    // the app started while the cluster was down: ready once the nodes are up, then publishes and holds
    await waitFor(async () => (await late.app.inject('/ready')).statusCode === 200, 20_000)
    t.match((await late.app.inject('/metrics')).body, /^rt_backplane_up 1$/m)
    const res = await late.app.inject({ method: 'POST', url: '/rooms/z/messages', payload: { text: 'up' }, headers: auth })
    t.equal(res.statusCode, 201, 'publishes once the cluster is up')
    t.match((await late.app.inject('/rooms/z/history')).json(), { seq: 1, messages: [{ text: 'up', seq: 1 }] }, 'and holds the message')
    const member = await joined(t, `${late.ws}/ws/chat/z?name=Z`)
    t.equal(member.welcome.seq, 1, 'chat is open again')
  })
})
