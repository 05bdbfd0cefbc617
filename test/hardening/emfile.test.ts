import t from 'tap'
import WebSocket from 'ws'
import { waitFor } from '../helper.js'
import { startServer } from '../server-process.js'

/** Opens a socket; resolves 'open', or 'failed' when the server cannot take it. */
async function tryOpen (url: string, sockets: WebSocket[]): Promise<'open' | 'failed'> {
  return await new Promise((resolve) => {
    const ws = new WebSocket(url)
    const timer = setTimeout(() => { ws.terminate(); resolve('failed') }, 3000)
    ws.on('open', () => { clearTimeout(timer); sockets.push(ws); resolve('open') })
    ws.on('error', () => { clearTimeout(timer); resolve('failed') })
    ws.on('unexpected-response', () => { clearTimeout(timer); ws.terminate(); resolve('failed') })
  })
}

t.test('EMFILE: upgrades refused, existing sockets unharmed, service recovers when sockets close', async (t) => {
  // up to 200 upgrades from one address in a row: over UPGRADE_RATE_BURST's default, which is not what this tests
  const server = await startServer(t, { UPGRADE_RATE_PER_SEC: '10000', UPGRADE_RATE_BURST: '10000' }, 120)
  const url = `ws://127.0.0.1:${server.port}/ws/echo`
  const sockets: WebSocket[] = []
  t.teardown(() => { for (const s of sockets) s.terminate() })
  let failures = 0
  for (let i = 0; i < 200 && failures < 3; i++) {
    if (await tryOpen(url, sockets) === 'failed') failures++
  }
  t.ok(failures >= 1, `ran out of file descriptors after ${sockets.length} sockets`)
  t.ok(sockets.length > 50 && sockets.length < 120, `${sockets.length} sockets open at the limit`)
  t.equal(server.child.exitCode, null, 'the process lives')

  const echoes = await Promise.all(sockets.slice(0, 10).map(async (ws, i) => await new Promise<string>((resolve) => {
    ws.once('message', (d) => resolve(String(d)))
    ws.send(`still-${i}`)
  })))
  t.same(echoes, Array.from({ length: 10 }, (_, i) => `still-${i}`), 'existing sockets are unharmed')

  const closing = sockets.splice(0, 20)
  await Promise.all(closing.map(async (ws) => await new Promise((resolve) => { ws.once('close', resolve); ws.close() })))
  // the server releases its descriptors once it has seen each close: retry until an upgrade gets through
  await waitFor(async () => await tryOpen(url, sockets) === 'open', 'an upgrade accepted again', 15_000)
  t.pass('new upgrades work again once sockets closed')
  const health = await fetch(`http://127.0.0.1:${server.port}/health`)
  t.equal(health.status, 200)
})
