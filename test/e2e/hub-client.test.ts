// RealtimeClient in Node against the real server (src/server.ts in a child process), with the `ws` package as the
// injected WebSocket constructor: many rooms on one socket, typed data messages, acks, signals, resume after a
// restart without duplicates, and a kick (4500) that stops it.
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { RealtimeClient, type HubMessage, type RoomInfo } from '../../src/client/realtime-client.js'
import type { StateDetail } from '../../src/client/realtime-socket.js'
import { waitFor } from '../helper.js'
import { startServer } from '../server-process.js'

interface Events { price: { usd: number }, typing: { on: boolean } }
const API_TOKEN = 'hub-client-e2e-api-token-0123456789'
const FAST = { baseMs: 50, capMs: 400, minMs: 20 }

function hubClient (t: Test, port: number, name: string): RealtimeClient<Events> {
  const c = new RealtimeClient<Events>({ url: `ws://127.0.0.1:${port}/ws/hub`, name, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, backoff: FAST })
  t.teardown(() => c.close())
  return c
}

t.test('two Node clients, two rooms on one socket each: data, text, signals, acks', async (t) => {
  const server = await startServer(t, { API_TOKEN })
  const ann = hubClient(t, server.port, 'Ann')
  const bob = hubClient(t, server.port, 'Bob')
  const got: Record<string, Array<HubMessage<Events>>> = { prices: [], chat: [] }
  const signals: string[] = []
  ann.connect()
  bob.connect()
  await ann.subscribe('prices', { message: (m) => got.prices!.push(m) })
  await ann.subscribe('chat', { message: (m) => got.chat!.push(m), signal: (s) => signals.push(`${s.from}:${s.event}`) })
  const bobIn = await bob.subscribe('chat', {})
  t.match(bobIn, { room: 'chat', resumed: false, truncated: false })
  t.ok(bobIn.memberCount >= 2, 'Ann is in the room')
  await bob.subscribe('prices', {})

  const ack = await bob.publish('prices', { event: 'price', data: { usd: 101.5 } })
  t.match(ack, { room: 'prices', seq: 1 })
  t.type(ack.id, 'string')
  await bob.publish('chat', { text: 'hello Ann' })
  await waitFor(() => got.prices!.length === 1 && got.chat!.length === 1, 'both rooms delivered')
  const price = got.prices![0]!
  t.equal(price.event, 'price')
  if (price.event === 'price') t.equal(price.data.usd, 101.5, 'typed data arrives as sent')
  t.equal(got.chat![0]!.text, 'hello Ann')
  t.equal(got.chat![0]!.from, 'Bob')
  t.equal(bob.signal('chat', 'typing', { on: true }), true)
  await waitFor(() => signals.length === 1, 'the signal')
  t.same(signals, ['Bob:typing'])
  await t.rejects(bob.publish('chat', { text: 'x'.repeat(5000) }), { name: 'RealtimeError', code: 'too_long' }, 'a refusal no retry can fix rejects')
  await t.rejects(bob.publish('nowhere', { text: 'x' }), { code: 'not_subscribed' })
  await bob.unsubscribe('prices')
  t.same(bob.rooms, ['chat'])
})

t.test('a restarted server: each room resumes, nothing twice, publishes made during the outage go once', async (t) => {
  const first = await startServer(t)
  const port = first.port
  const ann = hubClient(t, port, 'Ann')
  const seen: Record<string, string[]> = { a: [], b: [] }
  const gaps: string[] = []
  const infos: RoomInfo[] = []
  ann.connect()
  for (const room of ['a', 'b'] as const) {
    await ann.subscribe(room, { message: (m) => seen[room]!.push(m.text ?? ''), gap: (r) => gaps.push(r), subscribed: (i) => infos.push(i) })
  }
  await ann.publish('a', { text: 'a1' })
  await ann.publish('b', { text: 'b1' })
  await waitFor(() => seen.a!.length === 1 && seen.b!.length === 1, 'own messages back')
  const states: StateDetail[] = []
  ann.addEventListener('state', (ev) => states.push((ev as CustomEvent<StateDetail>).detail))
  t.equal(await first.stop(), 0)
  await waitFor(() => states.some((s) => s.retryAt !== undefined), 'backing off')
  const during = ann.publish('a', { text: 'a2 typed while the server was down' })
  t.equal(ann.pending, 1)
  await startServer(t, { PORT: String(port) })
  const ack = await during
  t.equal(ack.seq, 1, 'the new server (new epoch) took it as its first')
  await waitFor(() => seen.a!.includes('a2 typed while the server was down'), 'delivered after the resume', 20_000)
  t.same(seen, { a: ['a1', 'a2 typed while the server was down'], b: ['b1'] }, 'each once')
  t.ok(infos.filter((i) => i.resumed).length >= 2, 'both rooms resubscribed')
  t.ok(infos.some((i) => i.resumed && i.truncated), 'a lost epoch is reported truncated')
  t.ok(gaps.length >= 1, 'and as a gap')
})

t.test('kicked (4500): no reconnect', async (t) => {
  const server = await startServer(t, { API_TOKEN })
  const c = hubClient(t, server.port, 'Kicked')
  c.connect()
  await c.subscribe('k', {})
  const list = await (await fetch(`http://127.0.0.1:${server.port}/connections?route=hub`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json() as { connections: Array<{ id: string }> }
  t.equal(list.connections.length, 1)
  const stopped = new Promise<StateDetail>((resolve) => c.addEventListener('state', (ev) => {
    const d = (ev as CustomEvent<StateDetail>).detail
    if (d.stopped !== undefined) resolve(d)
  }))
  const res = await fetch(`http://127.0.0.1:${server.port}/connections/${list.connections[0]!.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${API_TOKEN}` } })
  t.equal(res.status, 204)
  t.match(await stopped, { state: 'CLOSED', retryAt: undefined, stopped: { code: 4500 } })
  const upgrades = () => server.lines.filter((l) => l.msg === 'ws connected').length
  const before = upgrades()
  await new Promise((resolve) => setTimeout(resolve, 1000)) // an absence: the backoff here is at most 400 ms
  t.equal(upgrades(), before, 'no new connection')
})
