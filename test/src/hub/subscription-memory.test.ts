import { EventEmitter } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { ChatSession, Hub } from '../../../src/hub/hub.js'
import { MemoryStore } from '../../../src/hub/memory-store.js'
import { Connection, type SocketLike } from '../../../src/registry/connection.js'

// A file of its own: heap use is measured, and other tests' garbage and compiled code would blur it.
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

class CountingSocket extends EventEmitter {
  readyState = 1
  bufferedAmount = 0
  sent = 0
  send (): void { this.sent++ }
  close (): void {}
  terminate (): void {}
  ping (): void {}
}

/** A store that holds nothing per member: what is left to measure is the hub's own. */
class NullStore extends MemoryStore {
  override async join (): Promise<{ names: string[], count: number }> { return { names: [], count: 1 } }
  override async leave (): Promise<void> {}
}

async function perSubscription (store: MemoryStore): Promise<number> {
  const ROOMS = 20_000
  const log = { info () {}, warn () {}, error () {}, debug () {} }
  const hub = new Hub(store, { maxLength: 100, ratePerSec: 10, rateBurst: 10, sendBufferLimit: 1 << 20, log, maxSubscriptions: ROOMS })
  const tick = async () => await new Promise((resolve) => setImmediate(resolve))
  const heap = async () => { for (let i = 0; i < 5; i++) { await tick(); gc() } return process.memoryUsage().heapUsed }
  const open = async (name: string) => {
    const socket = new CountingSocket()
    const session = new ChatSession(new Connection(socket as SocketLike, { route: 'hub', ip: '127.0.0.1', userAgent: 't' }), undefined, name, hub.options)
    for (let i = 0; i < ROOMS; i++) hub.receive(session, `{"type":"subscribe","room":"r${i}"}`)
    while (socket.sent < ROOMS) await tick()
    return session
  }
  const first = await open('first') // the rooms exist from here: what follows is what a subscription adds
  const before = await heap()
  const second = await open('second')
  const after = await heap()
  hub.close(second)
  hub.close(first)
  await store.close()
  return (after - before) / ROOMS
}

t.test('one socket in many rooms: a subscription costs the hub under 200 bytes of heap', async (t) => {
  const bytes = await perSubscription(new NullStore({ historySize: 10, historyTtlMs: 0 }))
  t.ok(bytes > 0 && bytes < 200, `${bytes.toFixed(0)} bytes per subscription in the hub`)
  // the memory store's presence entry comes on top (a Redis store keeps it in Redis): shown, not bounded here
  const withStore = await perSubscription(new MemoryStore({ historySize: 10, historyTtlMs: 0 }))
  t.ok(withStore > bytes, `${withStore.toFixed(0)} bytes with the memory store's presence`)
})
