import t from 'tap'
import { MemoryStore } from '../../src/hub/memory-store.js'
import type { HubStore } from '../../src/hub/types.js'

/** The in-memory store with some methods replaced: a test-only build, not a backdoor in production code. */
function storeWith (overrides: Partial<HubStore>): { store: HubStore, real: MemoryStore } {
  const real = new MemoryStore({ historySize: 10, historyTtlMs: 0 })
  const store: HubStore = {
    setListener: (l) => real.setListener(l),
    canCreate: async (room) => await real.canCreate(room),
    publish: async (room, draft) => await real.publish(room, draft),
    signal: async (ev) => await real.signal(ev),
    backlog: async (room, since, epoch, limit) => await real.backlog(room, since, epoch, limit),
    peek: async (room, since, epoch, limit) => await real.peek(room, since, epoch, limit),
    join: async (room, m) => await real.join(room, m),
    leave: async (room, m) => await real.leave(room, m),
    members: async (room) => await real.members(room),
    summary: async (room) => await real.summary(room),
    rooms: async (limit, after) => await real.rooms(limit, after),
    close: async () => await real.close(),
    ...overrides
  }
  return { store, real }
}
import { captureLogs, closed, connect, listen, waitFor } from '../helper.js'
import { rawConnect } from './raw.js'

t.test('a client that vanishes without FIN (stops reading and writing) is reaped by the heartbeat', async (t) => {
  const { app, port } = await listen(t, { HEARTBEAT_INTERVAL_MS: '150' })
  const ghost = await rawConnect(port, '/ws/chat/ghosts?name=Ghost')
  ghost.socket.pause() // no reads, no writes, no FIN: a half-open peer
  t.teardown(() => ghost.destroy())
  t.equal(app.registry.size, 1)
  await waitFor(() => app.registry.size === 0, 'the heartbeat to reap the ghost')
  t.equal(app.registry.size, 0, 'gone from the registry')
  // its room, now without members and history, is gone altogether
  t.equal((await app.inject('/rooms/ghosts')).statusCode, 404, 'and from its room')
})

t.test('an exception inside a message handler: logged, that socket closed with 1011, the rest live on', async (t) => {
  // a store whose publish throws synchronously, as a buggy backend might
  const { store: broken, real } = storeWith({})
  broken.publish = (room, draft) => {
    if (draft.text === 'boom') throw new Error('handler exploded')
    return real.publish(room, draft)
  }
  const { logger, lines } = captureLogs()
  const { app, ws: base } = await listen(t, {}, { store: broken, loggerInstance: logger })
  const victim = await connect(t, `${base}/ws/chat/x?name=V`)
  await victim.frames.next('welcome')
  const bystander = await connect(t, `${base}/ws/chat/x?name=B`)
  await bystander.frames.next('welcome')
  const done = closed(victim.ws)
  victim.ws.send('boom')
  t.same(await done, [1011, 'internal error'])
  t.ok(lines.some((l) => l.msg === 'message handler failed: closing with 1011' && typeof l.connId === 'string'), 'logged with the connection id')
  bystander.ws.send('still fine')
  t.match(await bystander.frames.next('message'), { text: 'still fine' })
  t.equal((await app.inject('/health')).statusCode, 200)
})

t.test('a message sent right after the open, before the welcome is out, is processed, not dropped', async (t) => {
  // a store whose join is slow (like a remote backplane): the handler is still setting up when frames arrive
  const { store: slowJoin, real } = storeWith({})
  slowJoin.join = async (room, m) => {
    await new Promise((resolve) => setTimeout(resolve, 150)) // the slow backend itself, not a wait in the test
    return await real.join(room, m)
  }
  const { ws: base } = await listen(t, {}, { store: slowJoin })
  const WebSocket = (await import('ws')).default
  const ws = new WebSocket(`${base}/ws/chat/early?name=Eager`)
  t.teardown(() => ws.terminate())
  const seen: Array<Record<string, unknown>> = []
  const acked = new Promise<void>((resolve) => ws.on('message', (d) => {
    const f = JSON.parse(String(d)) as Record<string, unknown>
    seen.push(f)
    if (f.type === 'ack') resolve()
  }))
  ws.on('open', () => ws.send(JSON.stringify({ type: 'message', text: 'first!', cid: 'early-1' })))
  await acked
  t.equal(seen[0]?.type, 'welcome', 'the welcome comes first')
  // published while the welcome was prepared: it is in the welcome's history or right after it, never both
  const inHistory = (seen[0]?.history as Array<{ text: string }>).filter((m) => m.text === 'first!').length
  const live = seen.filter((f) => f.type === 'message' && f.text === 'first!').length
  t.equal(inHistory + live, 1, 'the early message was processed and seen exactly once')
  t.match(seen.at(-1), { type: 'ack', cid: 'early-1', seq: 1 })
})
