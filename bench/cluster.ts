// The cross-instance part of the bench (`--only=cluster`): several instances of a server on one Redis started
// here, driven by the load generator (scenarios/cross.ts). First ours beside Socket.IO on @socket.io/redis-adapter
// and on its sharded adapter, publishers on one instance and receivers on another, with ours on one instance
// as the local reference; then ours with 1, 2 and 4 serving instances and one that serves no room.
// Method and figures: bench/README.md, "Across instances".
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { HOST, type Launch, Loadgen, MEM_DIR, type Running, type ServerName, startServer, stopServer } from './lib/launch.js'
import { quiet, settle } from './lib/stats.js'
import type { CrossTask, Proto, Row } from './lib/types.js'
import { printRow } from './report.js'

export interface ClusterOptions extends Launch {
  quick: boolean
  env: Record<string, string>
}

async function freePort (): Promise<number> {
  const s = createServer().listen(0, HOST)
  await once(s, 'listening')
  const { port } = s.address() as { port: number }
  s.close()
  await once(s, 'close')
  return port
}

/** A redis-server for the run, without persistence, on a free loopback port. */
async function startRedis (): Promise<{ url: string, child: ChildProcess }> {
  const port = await freePort()
  const child = spawn(process.env.REDIS_SERVER ?? 'redis-server',
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error('redis-server did not start in 10 s')), 10_000)
    child.stdout.on('data', (d) => {
      out += String(d)
      if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve() }
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server exited ${String(code)}`)) })
  })
  child.stdout.resume()
  return { url: `redis://${HOST}:${port}`, child }
}

interface Kind { server: string, name: ServerName, proto: Proto, env: Record<string, string> }

/** Starts `n` instances of one kind, runs one cross task on them, stops them; rows get `kind.server`. */
async function runOn (opts: ClusterOptions, gen: Loadgen, kind: Kind, n: number, task: Omit<CrossTask, 'instances'>, rows: Row[]): Promise<void> {
  const running: Running[] = []
  try {
    for (let i = 0; i < n; i++) running.push(await startServer(kind.name, `${kind.server} #${i}`, { ...opts.env, ...kind.env }, opts))
    const instances = running.map((r) => ({ port: r.port, pid: r.pid }))
    const target = { host: HOST, port: running[0]!.port, proto: kind.proto, serverPid: running[0]!.pid, memDir: MEM_DIR }
    const reply = await gen.run({ target, task: { ...task, instances } }, 120_000)
    if (reply.error !== undefined) {
      process.stdout.write(`  ${kind.server} ${task.label}: FAILED ${reply.error}\n`)
      rows.push({ server: kind.server, group: 'cluster', label: task.label, unit: '-', count: 0, seconds: 0, rate: 0, serverCpuSec: 0, serverCpuUs: 0, serverRssBytes: 0, loadgenCpu: 0, error: reply.error })
    }
    for (const w of reply.windows) {
      const row: Row = { ...w, server: kind.server, group: 'cluster' }
      rows.push(row)
      printRow(row)
    }
  } finally {
    await Promise.all(running.map(async (r) => await stopServer(r)))
  }
  for (const r of running) await settle(r.pid, 2000)
}

export async function clusterBench (opts: ClusterOptions, rows: Row[]): Promise<void> {
  const redis = await startRedis()
  const gen = new Loadgen()
  const t0 = Date.now()
  try {
    const redisEnv = (tag: string) => ({ REDIS_URL: redis.url, REDIS_PREFIX: `bench-${tag}-${Date.now()}:` })
    const kinds: Kind[] = [
      { server: 'Socket.IO redis-adapter', name: 'sio', proto: 'sio', env: { REDIS_URL: redis.url, SIO_ADAPTER: 'redis' } },
      { server: 'Socket.IO sharded', name: 'sio', proto: 'sio', env: { REDIS_URL: redis.url, SIO_ADAPTER: 'sharded' } },
      { server: 'ours', name: 'ours', proto: 'ws', env: redisEnv('x') }
    ]
    const warmupMs = opts.quick ? 400 : 600
    const durationMs = opts.quick ? 1500 : 2500
    // publishers on instance 0, receivers on instance 1: every delivery crossed Redis
    const rooms = 4
    const cross = { kind: 'cross' as const, receivers: 50, window: 8, warmupMs, durationMs, pubAt: Array<number>(rooms).fill(0) }
    process.stdout.write(`across two instances on one Redis (${rooms} rooms x 50 receivers, 8 messages outstanding per room):\n`)
    await quiet(opts.quick ? 3 : 10)
    for (const kind of kinds) {
      await runOn(opts, gen, kind, 2, { ...cross, label: 'cross 2 instances', recvAt: Array<number>(rooms).fill(1) }, rows)
    }
    // the same load delivered by the instance it was published on (through the same Redis)
    await runOn(opts, gen, kinds[2]!, 1, { ...cross, label: 'cross local (1 instance)', recvAt: Array<number>(rooms).fill(0) }, rows)

    // 1, 2, 4 serving instances and one more that serves no room; 40 rooms, each room's receivers on one
    // instance and its publisher on the next one; a paced load of the same rate per serving instance (each
    // instance's share of the work stays the same as instances are added)
    const rate = opts.quick ? 75 : 100
    process.stdout.write(`ours, 1/2/4 instances on one Redis + one serving no room (40 rooms x 10 receivers, ${rate} msg/s per serving instance):\n`)
    for (const n of [1, 2, 4]) {
      await quiet(opts.quick ? 2 : 5)
      const recvAt = Array.from({ length: 40 }, (_, r) => r % n)
      const pubAt = recvAt.map((i) => (i + 1) % n)
      const task = { kind: 'cross' as const, label: `scale ${n}+1 instances`, receivers: 10, window: 64, rate: rate * n, warmupMs, durationMs, recvAt, pubAt }
      await runOn(opts, gen, { ...kinds[2]!, env: redisEnv(`s${n}`) }, n + 1, task, rows)
    }
  } finally {
    gen.stop()
    redis.child.kill('SIGKILL')
  }
  process.stdout.write(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
}
