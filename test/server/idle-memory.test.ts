import type { IncomingMessage } from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import type WebSocket from 'ws'
import { connect, listen } from '../helper.js'

// what an idle socket holds is what 10,000 of them cost (bench: "idle 10000 sockets")

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function settled (): Promise<void> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setImmediate(resolve))
    gc()
  }
}

t.test('an open echo socket does not keep its upgrade request alive', async (t) => {
  const { app, ws: base } = await listen(t)
  const requests: Array<WeakRef<IncomingMessage>> = []
  app.server.on('upgrade', (req: IncomingMessage) => { requests.push(new WeakRef(req)) })
  const clients = await Promise.all([1, 2, 3].map(async () => await connect(t, `${base}/ws/echo`)))
  // each socket works, so each upgrade is long over
  for (const { ws } of clients) {
    ws.send('ping')
    await new Promise((resolve) => ws.once('message', resolve))
  }
  await settled()
  t.equal(app.registry.size, 3)
  t.equal(requests.length, 3)
  t.equal(requests.filter((r) => r.deref() !== undefined).length, 0, 'every IncomingMessage was collected while its socket is open')
})

t.test('every echo socket shares the same listeners: no closure per socket', async (t) => {
  const { app, ws: base } = await listen(t)
  await Promise.all([1, 2, 3].map(async () => await connect(t, `${base}/ws/echo`)))
  const sockets = [...app.registry.values()].map((conn) => conn.socket as WebSocket)
  t.equal(sockets.length, 3)
  const [first, ...rest] = sockets
  for (const event of ['message', 'close', 'error', 'pong']) {
    const mine = first!.listeners(event)
    t.equal(mine.length, 1, `one ${event} listener`)
    for (const other of rest) {
      const theirs = other.listeners(event)
      t.ok(theirs.length === mine.length && theirs.every((fn, i) => fn === mine[i]), `the same ${event} listener on every socket`)
    }
  }
})
