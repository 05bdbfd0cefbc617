// The multi-room protocol across two instances, for every Redis mode (one Redis: hub.test.ts; a Redis Cluster:
// redis-cluster-hub.test.ts): data messages, signals and personal streams.
import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { connect } from '../helper.js'
import { mint } from '../../src/token.js'

export const API = 'hub-redis-api-token-0123456789'
const SECRET = 'hub-redis-secret-0123456789abcdef-xyz'
const KEY = { alg: 'HS256' as const, key: new TextEncoder().encode(SECRET) }
/** the settings every instance of these cases runs with, besides its Redis */
export const PROTOCOL_SETTINGS = { API_TOKEN: API, AUTH_MODE: 'jwt', JWT_SECRET: SECRET }

type Frame = Record<string, unknown>
type Instance = { app: FastifyInstance, ws: string }

async function client (t: Test, url: string) {
  const c = await connect(t, url)
  let next = 0
  const request = async (frame: Frame): Promise<Frame> => {
    const ref = ++next
    const reply = c.frames.next((f) => f.ref === ref)
    c.ws.send(JSON.stringify({ ...frame, ref }))
    return await reply
  }
  return { ...c, request }
}

/** `pair` starts two instances on one Redis (or Cluster) under a fresh prefix, with PROTOCOL_SETTINGS. */
export function protocolCases (t: Test, pair: (t: Test) => Promise<readonly [Instance, Instance]>): void {
  const tok = async (sub: string) => await mint(KEY, { sub, ttlSeconds: 3600, name: sub })

  t.test('data messages: delivered, held, resumed and deduped across instances', async (t) => {
    const [a, b] = await pair(t)
    const ann = await client(t, `${a.ws}/ws/hub?token=${await tok('ann')}`)
    const bob = await client(t, `${b.ws}/ws/hub?token=${await tok('bob')}`)
    await ann.request({ type: 'subscribe', room: 'q' })
    await bob.request({ type: 'subscribe', room: 'q' })
    const data = { nested: { list: [1, 'two', null, true] }, unicode: 'é😀' }
    const ack = await ann.request({ type: 'publish', room: 'q', event: 'quote', data, cid: 'c1' })
    t.match(ack, { type: 'ack', room: 'q', seq: 1, cid: 'c1' })
    t.match(await bob.frames.next('message'), { room: 'q', seq: 1, event: 'quote', data, from: 'ann', userId: 'ann' })
    t.same(await ann.request({ type: 'publish', room: 'q', event: 'quote', data, cid: 'c1' }), { ...ack, ref: 3 }, 'a retry is the original')
    await bob.request({ type: 'publish', room: 'q', text: 'two' })
    const late = await client(t, `${b.ws}/ws/hub?token=${await tok('cat')}`)
    const sub = await late.request({ type: 'subscribe', room: 'q', since: 0, epoch: ack.epoch })
    t.match(sub.history, [{ seq: 1, event: 'quote', data }, { seq: 2, text: 'two' }], 'data comes back from Redis as it went in')
    const http = await a.app.inject({ method: 'POST', url: '/rooms/q/messages', payload: { data: [1, 2] }, headers: { authorization: `Bearer ${API}` } })
    t.equal(http.statusCode, 201)
    t.match(await late.frames.next('message'), { seq: 3, data: [1, 2] })
  })

  t.test('signals cross instances on the room channel, without history', async (t) => {
    const [a, b] = await pair(t)
    const ann = await client(t, `${a.ws}/ws/hub?token=${await tok('ann')}`)
    const bob = await client(t, `${b.ws}/ws/chat/s?token=${await tok('bob')}`)
    await bob.frames.next('welcome')
    await ann.request({ type: 'subscribe', room: 's' })
    t.match(await ann.request({ type: 'signal', room: 's', event: 'cursor', data: { x: 1 } }), { type: 'ack', room: 's' })
    t.same(await bob.frames.next('signal'), { type: 'signal', room: 's', from: 'ann', event: 'cursor', data: { x: 1 }, userId: 'ann' })
    t.match(await bob.request({ type: 'signal', room: 's', event: 'cursor' }), { type: 'ack' })
    t.match(await ann.frames.next('signal'), { from: 'bob', event: 'cursor' })
    t.equal(ann.frames.all('signal').length, 1, 'not back to its sender')
    const history = (await a.app.inject({ url: '/rooms/s/history', headers: { authorization: `Bearer ${API}` } }))
    t.equal(history.statusCode === 404 ? 0 : (history.json().seq as number), 0, 'no seq, nothing held')
  })

  t.test('personal streams: POST /users/:id/messages reaches every socket of the user on every instance', async (t) => {
    const [a, b] = await pair(t)
    const t1 = await tok('dora')
    const onA = await client(t, `${a.ws}/ws/hub?token=${t1}`)
    const onB = await client(t, `${b.ws}/ws/chat/lobby?token=${t1}`)
    const other = await client(t, `${b.ws}/ws/hub?token=${await tok('eve')}`)
    await onA.frames.next('subscribed')
    await onB.frames.next('subscribed')
    await other.frames.next('subscribed')
    const res = await a.app.inject({ method: 'POST', url: '/users/dora/messages', payload: { event: 'alert', data: { level: 2 } }, headers: { authorization: `Bearer ${API}` } })
    t.equal(res.statusCode, 201)
    const expected = { room: '@dora', seq: 1, event: 'alert', data: { level: 2 }, from: 'server' }
    t.match(await onA.frames.next('message'), expected)
    t.match(await onB.frames.next('message'), expected)
    t.match(await other.request({ type: 'subscribe', room: '@dora' }), { type: 'error', code: 'forbidden' })
    t.equal(other.frames.all('message').length, 0)
    const again = await client(t, `${b.ws}/ws/hub?token=${t1}`)
    t.match(await again.frames.next('subscribed'), { room: '@dora', seq: 1, history: [expected] }, 'held for the next socket')
  })
}
