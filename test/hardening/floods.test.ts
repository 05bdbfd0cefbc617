import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import t from 'tap'
import { listen } from '../helper.js'
import { OP, frame, rawConnect } from './raw.js'

t.test('ws is at its newest patched version (8.23 or newer), as installed from the lockfile', async (t) => {
  // resolve ws the way @fastify/websocket does, not just the top-level copy
  const require = createRequire(join(dirname(createRequire(import.meta.url).resolve('@fastify/websocket')), 'index.js'))
  const pkg = JSON.parse(readFileSync(join(dirname(require.resolve('ws')), 'package.json'), 'utf8')) as { version: string }
  const [major, minor] = pkg.version.split('.').map(Number) as [number, number]
  t.ok(major > 8 || (major === 8 && minor >= 23), `ws ${pkg.version} >= 8.23.0`)
  const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as { packages: Record<string, { version: string }> }
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.endsWith('node_modules/ws')) continue
    const [lmaj, lmin] = entry.version.split('.').map(Number) as [number, number]
    t.ok(lmaj > 8 || (lmaj === 8 && lmin >= 23), `lockfile ${path}@${entry.version}`)
  }
})

t.test('fragment and chunk floods are closed, memory stays bounded', async (t) => {
  const { port, app } = await listen(t)

  t.test('100,000 empty continuation fragments: 1008 long before the end', async (t) => {
    const c = await rawConnect(port)
    t.teardown(() => c.destroy())
    const heap = process.memoryUsage().heapUsed
    const empty = frame({ opcode: OP.cont, fin: false })
    const batch = Buffer.concat([frame({ opcode: OP.text, fin: false }), ...Array.from({ length: 999 }, () => empty)])
    c.send(batch)
    const rest = Buffer.concat(Array.from({ length: 1000 }, () => empty))
    for (let i = 0; i < 99 && !c.ended; i++) c.send(rest)
    t.equal(await c.closeCode(), 1008)
    t.ok(process.memoryUsage().heapUsed - heap < 32 * 1024 * 1024, 'heap stayed bounded')
  })

  t.test('a frame dribbled one byte per TCP write: closed (1008/1009) once it is past the chunk limit', async (t) => {
    const c = await rawConnect(port)
    t.teardown(() => c.destroy())
    c.socket.setNoDelay(true)
    const bytes = frame({ opcode: OP.text, payload: Buffer.alloc(4000, 0x61) })
    let sent = 0
    for (; sent < bytes.length && !c.ended && c.frames.length === 0; sent++) {
      c.send(bytes.subarray(sent, sent + 1))
      await new Promise((resolve) => setImmediate(resolve)) // one byte per event-loop turn: one read on the server
    }
    const code = await c.closeCode()
    t.ok(code === 1008 || code === 1009, `closed with ${String(code)} after ${sent} bytes`)
    t.ok(sent < bytes.length, 'before the message could complete')
  })

  t.test('the instance is unharmed', async (t) => {
    t.equal((await app.inject('/health')).statusCode, 200)
  })
})
