// Added latency of one chat message through the Redis backplane: sender -> receiver, one message in
// flight, measured for the in-memory hub, Redis on one instance, and Redis across two instances.
// Run: npx tsx bench/cross-instance.ts   (needs redis-server on PATH; loopback only, bounded count)
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import WebSocket from 'ws'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config/load.js'

const ROUNDS = Number(process.env.ROUNDS ?? 2000)

async function freePort (): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as { port: number }
  s.close()
  return port
}

async function instance (env: Record<string, string>) {
  const app = await buildApp(loadConfig({ LOG_LEVEL: 'warn', CHAT_RATE_PER_SEC: '100000', CHAT_RATE_BURST: '100000', ...env }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, url: `ws://127.0.0.1:${(app.server.address() as { port: number }).port}` }
}

async function open (url: string): Promise<WebSocket> {
  const ws = new WebSocket(url)
  await new Promise<void>((resolve) => ws.on('message', function first (d) {
    if (JSON.parse(String(d)).type === 'welcome') { ws.off('message', first); resolve() }
  }))
  return ws
}

async function measure (senderUrl: string, receiverUrl: string, room: string): Promise<number[]> {
  const rx = await open(`${receiverUrl}/ws/chat/${room}?name=rx`)
  const tx = await open(`${senderUrl}/ws/chat/${room}?name=tx`)
  const out: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const got = new Promise<void>((resolve) => rx.once('message', () => resolve()))
    const t0 = process.hrtime.bigint()
    tx.send('x')
    await got
    out.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  rx.close(); tx.close()
  return out.sort((a, b) => a - b)
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!.toFixed(0)

const port = await freePort()
const redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' })
await new Promise((resolve) => setTimeout(resolve, 300))
const redisEnv = { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_PREFIX: 'bench:' }
const mem = await instance({})
const r1 = await instance(redisEnv)
const r2 = await instance(redisEnv)
const rows: Array<[string, number[]]> = [
  ['in-memory hub, same instance', await measure(mem.url, mem.url, 'm')],
  ['redis hub, same instance', await measure(r1.url, r1.url, 'a')],
  ['redis hub, across two instances', await measure(r1.url, r2.url, 'b')]
]
console.log(`one message in flight, ${ROUNDS} rounds, µs from send to receipt (loopback, ${process.version})`)
for (const [name, xs] of rows) console.log(`${name.padEnd(34)} p50 ${pct(xs, 0.5).padStart(5)}  p99 ${pct(xs, 0.99).padStart(5)}`)
await Promise.all([mem.app.close(), r1.app.close(), r2.app.close()])
redis.kill()
