// Cases every Redis mode must pass (one Redis: cluster.test.ts; a Redis Cluster: redis-cluster-hub.test.ts),
// run against app instances the caller starts on its Redis under a fresh prefix.
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { closed, connect, type Frames } from '../helper.js'
import { mint } from '../../src/token.js'

const TOKEN = 'test-token-0123456789abcdef'

/** Starts `n` app instances sharing one Redis (or Cluster) under a fresh prefix, with API_TOKEN set. */
export type StartInstances = (t: Test, n: number, extra?: Record<string, string>) => Promise<Array<{ app: FastifyInstance, ws: string }>>

async function joined (t: Test, url: string) {
  const c = await connect(t, url)
  const welcome = await c.frames.next('welcome')
  return { ...c, welcome }
}

const seqs = (f: Frames) => f.all('message').map((m) => m.seq)

type Instance = { app: FastifyInstance, ws: string }

/**
 * Ann on `a` and Bob on `b` in one room, and a publish over HTTP through `http`: presence, the epoch and the
 * listing (read on `lister`) are shared, and every message reaches each member once.
 */
export async function crossInstanceDelivery (t: Test, a: Instance, b: Instance, http: Instance, lister = http): Promise<void> {
  const ann = await joined(t, `${a.ws}/ws/chat/x?name=Ann`)
  const bob = await joined(t, `${b.ws}/ws/chat/x?name=Bob`)
  t.same(bob.welcome.members, ['Ann', 'Bob'], 'members are shared across instances')
  t.equal(bob.welcome.epoch, ann.welcome.epoch, 'one epoch for the room')
  t.match(await ann.frames.next('join'), { name: 'Bob' })
  bob.ws.send('hi from b')
  t.match(await ann.frames.next('message'), { from: 'Bob', text: 'hi from b', seq: 1 })
  const res = await http.app.inject({ method: 'POST', url: '/rooms/x/messages', payload: { text: 'from http' }, headers: { authorization: `Bearer ${TOKEN}` } })
  t.equal(res.statusCode, 201)
  t.match(await ann.frames.next('message'), { text: 'from http', seq: 2 })
  t.match(await bob.frames.next((f) => f.seq === 2), { text: 'from http' })
  t.match((await lister.app.inject('/rooms')).json(), [{ room: 'x', members: 2, seq: 2 }])
  bob.ws.send('marker')
  await ann.frames.next((f) => f.text === 'marker')
  t.same(seqs(ann.frames), [1, 2, 3], 'no duplicates')
  bob.ws.close()
  t.match(await ann.frames.next('leave'), { name: 'Bob' })
}

/**
 * Rooms gap1 and gap2 read on `b` and published to over HTTP on `a`, with `kill` (the subscriber connections
 * dropped) run after the 9th message of each: every seq arrives once, in order, across the resubscribe.
 */
export async function gapAcrossResubscribe (t: Test, a: Instance, b: Instance, kill: () => Promise<void>): Promise<void> {
  const readers = [await joined(t, `${b.ws}/ws/chat/gap1?name=R1`), await joined(t, `${b.ws}/ws/chat/gap2?name=R2`)]
  const send = async (room: string, n: number) => {
    const res = await a.app.inject({ method: 'POST', url: `/rooms/${room}/messages`, payload: { text: `t${n}` }, headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(res.statusCode, 201)
  }
  for (let n = 1; n <= 30; n++) {
    if (n === 10) await kill()
    await send('gap1', n)
    await send('gap2', n)
  }
  const expected = Array.from({ length: 30 }, (_, i) => i + 1)
  for (const r of readers) {
    await r.frames.next((f) => f.type === 'message' && f.seq === 30, 10000)
    t.same(seqs(r.frames), expected, 'every seq once, in order, across the reconnect')
  }
}

export function sharedHubCases (t: Test, instances: StartInstances): void {
  t.test('resume on another instance; cid dedupe across instances', async (t) => {
    const [a, b] = await instances(t, 2)
    const first = await joined(t, `${a!.ws}/ws/chat/r?name=Mover`)
    first.ws.send(JSON.stringify({ type: 'message', text: 'one', cid: 'same' }))
    const ack1 = await first.frames.next('ack')
    first.ws.close()
    const other = await joined(t, `${b!.ws}/ws/chat/r?name=Other`)
    other.ws.send('two'); other.ws.send('three')
    await other.frames.next((f) => f.seq === 3)
    const back = await joined(t, `${b!.ws}/ws/chat/r?name=Mover&since=${String(ack1.seq)}&epoch=${String(ack1.epoch)}`)
    t.same((back.welcome.history as Array<{ text: string }>).map((m) => m.text), ['two', 'three'], 'exactly what was missed')
    t.equal(back.welcome.truncated, undefined)
    back.ws.send(JSON.stringify({ type: 'message', text: 'one', cid: 'same' }))
    const ack2 = await back.frames.next('ack')
    t.same(ack2, ack1, 'the retry on another instance gets the original ack')
    other.ws.send('four')
    await other.frames.next((f) => f.text === 'four')
    t.same(seqs(other.frames), [2, 3, 4], 'the retry was not broadcast')
  })

  t.test('a cid dedupes per sender: another sender reusing it is stored and broadcast; retries anywhere get the original', async (t) => {
    const [a, b] = await instances(t, 2)
    const mallory = await joined(t, `${a!.ws}/ws/chat/k?name=Mallory`)
    const alice = await joined(t, `${b!.ws}/ws/chat/k?name=Alice`)
    mallory.ws.send(JSON.stringify({ type: 'message', text: 'first', cid: 'k1' }))
    const mAck = await mallory.frames.next('ack')
    alice.ws.send(JSON.stringify({ type: 'message', text: 'mine', cid: 'k1' }))
    const aAck = await alice.frames.next('ack')
    t.equal(aAck.seq, Number(mAck.seq) + 1, "Alice's k1 is a new message, not Mallory's")
    t.match(await mallory.frames.next((f) => f.type === 'message' && f.text === 'mine'), { from: 'Alice', seq: aAck.seq }, 'and broadcast')
    const held = (await a!.app.inject('/rooms/k/history')).json().messages as Array<{ text: string }>
    t.same(held.map((m) => m.text), ['first', 'mine'], 'both are in history')
    const mallory2 = await joined(t, `${b!.ws}/ws/chat/k?name=Mallory`)
    mallory2.ws.send(JSON.stringify({ type: 'message', text: 'first', cid: 'k1' }))
    t.same(await mallory2.frames.next('ack'), mAck, "Mallory's retry on another socket and instance gets her original ack")
    const alice2 = await joined(t, `${b!.ws}/ws/chat/k?name=Alice`)
    alice2.ws.send(JSON.stringify({ type: 'message', text: 'mine', cid: 'k1' }))
    t.same(await alice2.frames.next('ack'), aAck, "Alice's retry on another socket gets hers")
    const http = async (from: string) => (await a!.app.inject({ method: 'POST', url: '/rooms/k/messages', headers: { authorization: `Bearer ${TOKEN}` }, payload: { text: 'api', cid: 'k1', from } })).json()
    const api = await http('backend')
    t.match(api, { duplicate: false, seq: Number(aAck.seq) + 1 }, 'an API caller is a sender of its own (its from)')
    t.match(await http('backend'), { duplicate: true, seq: api.seq, id: api.id })
    alice.ws.send('marker')
    await mallory.frames.next((f) => f.text === 'marker')
    t.same(seqs(mallory.frames), [1, 2, 3, 4], 'no retry was broadcast')
  })

  t.test('with auth, a user counts once across tabs on several instances: join on the first, leave after the last', async (t) => {
    const secret = 'cluster-auth-secret-0123456789abcdef'
    const [a, b] = await instances(t, 2, { AUTH_MODE: 'jwt', JWT_SECRET: secret })
    const key = { alg: 'HS256' as const, key: new TextEncoder().encode(secret) }
    const tok = async (sub: string) => await mint(key, { sub, name: sub.toUpperCase(), ttlSeconds: 600 })
    const watcher = await joined(t, `${a!.ws}/ws/chat/tabs?token=${await tok('watcher')}`)
    const tabs = [
      await joined(t, `${a!.ws}/ws/chat/tabs?token=${await tok('gina')}`),
      await joined(t, `${a!.ws}/ws/chat/tabs?token=${await tok('gina')}`),
      await joined(t, `${b!.ws}/ws/chat/tabs?token=${await tok('gina')}`)
    ]
    t.match(await watcher.frames.next('join'), { name: 'GINA', userId: 'gina' })
    t.equal(tabs[2]!.welcome.memberCount, 2, 'three tabs of one user on two instances count once')
    tabs[0]!.ws.close()
    tabs[2]!.ws.close()
    await Promise.all([closed(tabs[0]!.ws), closed(tabs[2]!.ws)])
    tabs[1]!.ws.send('still here')
    t.match(await watcher.frames.next('message'), { text: 'still here', userId: 'gina' })
    t.equal(watcher.frames.all('join').length, 1, 'one join')
    t.equal(watcher.frames.all('leave').length, 0, 'no leave while a tab is open')
    t.same((await b!.app.inject({ url: '/rooms/tabs', headers: { authorization: `Bearer ${TOKEN}` } })).json().members.sort(), ['GINA', 'WATCHER'])
    tabs[1]!.ws.close()
    t.match(await watcher.frames.next('leave'), { name: 'GINA', userId: 'gina' })
  })
}
