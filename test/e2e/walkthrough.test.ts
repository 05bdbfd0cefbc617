// The newcomer's walk-through of README and docs/protocol.md, end to end: one /ws/hub socket through
// RealtimeClient, three rooms, JSON published to one, a push from the server to the user, then a network drop (a
// loopback TCP proxy cuts every connection and refuses new ones while the server stays up) during which every room
// and the user get one more message each; once the network is back, the client resumes all of them and each message
// arrives exactly once. In Node (the `ws` package as the WebSocket) and in Chromium (the browser's own WebSocket and
// the client module the server serves at /js/index.js).
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { RealtimeClient } from '../../src/client/realtime-client.js'
import { mint } from '../../src/token.js'
import { listen, waitFor } from '../helper.js'
import { launch } from './browser.js'

const SECRET = 'walkthrough-secret-0123456789abcdef-xyz'
const API_TOKEN = 'walkthrough-api-token-0123456789abcdef'
const ROOMS = ['a', 'b', 'c', '@nina'] as const
const FAST = { baseMs: 50, capMs: 400, minMs: 20 }

interface Seen { seq: number, event?: string, data?: unknown, text?: string }
type Got = Record<string, Seen[]>

/** What the test asks of a client, wherever it runs. */
interface Driver {
  /** connect, subscribe to the three rooms and resume the user's stream; resolves once all four are subscribed */
  start (url: string, token: string): Promise<void>
  publish (room: string, data: unknown): Promise<{ room: string, seq: number }>
  got (): Promise<Got>
  state (): Promise<string>
}

/** A loopback TCP proxy in front of the server: `cut()` drops every connection and refuses new ones until `restore()`. */
async function proxy (t: Test, port: number): Promise<{ port: number, cut: () => void, restore: () => void }> {
  const live = new Set<Socket>()
  let down = false
  const server = createServer((client) => {
    if (down) { client.destroy(); return }
    const upstream = tcpConnect(port, '127.0.0.1')
    const end = () => { client.destroy(); upstream.destroy(); live.delete(client); live.delete(upstream) }
    for (const s of [client, upstream]) {
      live.add(s)
      s.on('error', end)
      s.on('close', end)
    }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of live) s.destroy(); server.close() })
  return {
    port: (server.address() as { port: number }).port,
    cut: () => { down = true; for (const s of live) s.destroy() },
    restore: () => { down = false }
  }
}

async function walkthrough (t: Test, make: (t: Test, origin: string) => Promise<Driver | undefined>): Promise<void> {
  const { http, port } = await listen(t, { AUTH_MODE: 'jwt', JWT_SECRET: SECRET, API_TOKEN, MAX_EVENT_LOOP_DELAY_MS: '0' })
  const net = await proxy(t, port)
  const driver = await make(t, `http://127.0.0.1:${net.port}`)
  if (driver === undefined) return
  const token = await mint({ alg: 'HS256', key: new TextEncoder().encode(SECRET) }, { sub: 'nina', ttlSeconds: 600 })
  const api = async (path: string, body: object) => {
    const res = await fetch(`${http}${path}`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    t.equal(res.status, 201, `POST ${path}`)
  }
  const count = async () => Object.fromEntries(Object.entries(await driver.got()).map(([room, list]) => [room, list.length]))

  await driver.start(`ws://127.0.0.1:${net.port}/ws/hub`, token)
  t.match(await driver.publish('b', { usd: 101.5 }), { room: 'b', seq: 1 }, 'a JSON publish to one room, acked with its seq')
  await api('/users/nina/messages', { event: 'note', data: { n: 1 } })
  await waitFor(async () => (await count()).b === 1 && (await count())['@nina'] === 1, 'the publish and the push')

  net.cut()
  await waitFor(async () => await driver.state() !== 'OPEN', 'the client sees the drop')
  for (const room of ['a', 'b', 'c']) await api(`/rooms/${room}/messages`, { event: 'price', data: { usd: room.charCodeAt(0) } })
  await api('/users/nina/messages', { event: 'note', data: { n: 2 } })
  net.restore()
  await waitFor(async () => { const n = await count(); return n.a === 1 && n.b === 2 && n.c === 1 && n['@nina'] === 2 }, 'every room resumed', 15_000)

  const got = await driver.got()
  t.same(got.a, [{ seq: 1, event: 'price', data: { usd: 97 } }], 'a: what was published during the drop')
  t.same(got.b, [{ seq: 1, event: 'price', data: { usd: 101.5 } }, { seq: 2, event: 'price', data: { usd: 98 } }], 'b: its own publish, then the one during the drop')
  t.same(got.c, [{ seq: 1, event: 'price', data: { usd: 99 } }], 'c')
  t.same(got['@nina'], [{ seq: 1, event: 'note', data: { n: 1 } }, { seq: 2, event: 'note', data: { n: 2 } }], 'the pushes to the user, the second made during the drop')
  t.equal(await driver.state(), 'OPEN')
}

const seen = (m: { seq: number, event?: string, data?: unknown, text?: string }): Seen => {
  const out: Seen = { seq: m.seq }
  if (m.event !== undefined) out.event = m.event
  if (m.data !== undefined) out.data = m.data
  if (m.text !== undefined) out.text = m.text
  return out
}

t.test('in Node, with the ws package', async (t) => {
  await walkthrough(t, async () => {
    let client: RealtimeClient | undefined
    const got: Got = {}
    return {
      async start (url, token) {
        client = new RealtimeClient({ url, token, WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, backoff: FAST })
        t.teardown(() => client?.close())
        client.connect()
        await Promise.all(ROOMS.map(async (room) => {
          got[room] = []
          await client!.subscribe(room, { message: (m) => got[room]!.push(seen(m)) })
        }))
      },
      async publish (room, data) { return await client!.publish(room, { event: 'price', data }) },
      async got () { return got },
      async state () { return client!.state }
    }
  })
})

t.test('in Chromium, with the browser\'s WebSocket and the client module the server serves', async (t) => {
  await walkthrough(t, async (t, origin) => {
    const context = await launch(t)
    if (context === undefined) return undefined
    const page = await context.newPage()
    // any document of the server's origin: the client module is imported from it, the socket is same-origin
    await page.goto(`${origin}/health`)
    return {
      async start (url, token) {
        await page.evaluate(async ({ url, token, rooms, backoff }) => {
          const path = '/js/index.js'
          const { RealtimeClient: Client } = await import(path) as { RealtimeClient: typeof RealtimeClient }
          const got: Record<string, unknown[]> = {}
          const client = new Client({ url, token, backoff })
          ;(window as unknown as { walk: unknown }).walk = { client, got }
          client.connect()
          await Promise.all(rooms.map(async (room) => {
            got[room] = []
            await client.subscribe(room, {
              message: (m) => {
                const out: Record<string, unknown> = { seq: m.seq }
                if (m.event !== undefined) out.event = m.event
                if (m.data !== undefined) out.data = m.data
                if (m.text !== undefined) out.text = m.text
                got[room]!.push(out)
              }
            })
          }))
        }, { url, token, rooms: [...ROOMS], backoff: FAST })
      },
      async publish (room, data) {
        return await page.evaluate(async ({ room, data }) => {
          const { client } = (window as unknown as { walk: { client: RealtimeClient } }).walk
          const ack = await client.publish(room, { event: 'price', data })
          return { room: ack.room, seq: ack.seq }
        }, { room, data })
      },
      async got () { return await page.evaluate(() => (window as unknown as { walk: { got: Got } }).walk.got) },
      async state () { return await page.evaluate(() => (window as unknown as { walk: { client: RealtimeClient } }).walk.client.state) }
    }
  })
})
