// The processes of a bench run: each server under test (built, production settings, one at a time on
// a free port) and the load generator (bench/loadgen.ts), driven over IPC.
import { fork, spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync } from 'node:fs'
import { get } from 'node:http'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { Proto, Reply, Request } from './types.js'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const HOST = '127.0.0.1'
export const MEM_DIR = fileURLToPath(new URL('../results/mem/', import.meta.url))

// 'bare' is ours with METRICS_ENABLED=false: the metrics variant measures what Prometheus costs.
// 'ws-heap' (only when asked for) is bare ws with ours built in its process (servers/carry-app.ts)
export type ServerName = 'ours' | 'ws' | 'sio' | 'bare' | 'ws-heap'
export const PROTO: Record<ServerName, Proto> = { ours: 'ws', ws: 'ws', sio: 'sio', bare: 'ws', 'ws-heap': 'ws' }
export const TITLE: Record<ServerName, string> = { ours: 'ours', ws: 'bare ws', sio: 'Socket.IO', bare: 'ours, no metrics', 'ws-heap': 'bare ws + our heap' }
const isOurs = (name: ServerName) => name === 'ours' || name === 'bare'

/**
 * Node flags of every server: V8's young generation at its full size (Node's default maximum, 16 MB
 * semispaces) from the start, as on a server that has been running. Without it the heap grows during
 * a window, or not, and neither an idle fill's memory per socket nor a fresh server's first echo
 * windows repeat from run to run (bench/README.md, Method).
 */
const HEAP_NODE_ARGS = '--min-semi-space-size=16'
/** bench/lib/gc-hook in every server: a full GC on SIGUSR2 for the idle scenario's readings */
const GC_HOOK_ARGS = `--expose-gc --import ${fileURLToPath(new URL('../../dist/bench/lib/gc-hook.js', import.meta.url))}`

/** Where the servers come from: extra node flags, and the checkout benched as "ours". */
export interface Launch {
  /** extra node flags for the servers, e.g. --node-args="--cpu-prof --cpu-prof-dir=/tmp/prof" */
  nodeArgs: string
  /** another checkout of the service to bench as "ours" (before/after comparisons) */
  oursDir: string
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, HOST, () => {
      const addr = s.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      s.close(() => resolve(port))
    })
  })
}

async function healthy (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const req = get({ host: HOST, port, path: '/health', timeout: 1000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => { req.destroy(); resolve(false) })
  })
}

export interface Running { name: string, child: ChildProcess, pid: number, port: number }

export async function startServer (name: ServerName, label: string, extraEnv: Record<string, string>, launch: Launch): Promise<Running> {
  const port = await freePort()
  const node = `node ${HEAP_NODE_ARGS} ${GC_HOOK_ARGS}${launch.nodeArgs === '' ? '' : ` ${launch.nodeArgs}`}`
  const entry = isOurs(name)
    ? `${node} dist/src/server.js`
    : name === 'ws-heap'
      ? `${node} --import ./dist/bench/servers/carry-app.js dist/bench/servers/ws-ref.js`
      : `${node} dist/bench/servers/${name === 'ws' ? 'ws-ref' : 'socketio-ref'}.js`
  const env: Record<string, string> = {
    ...process.env as Record<string, string>,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST,
    LOG_LEVEL: 'warn',
    MAX_CONNECTIONS: '20000',
    // the load generator opens thousands of sockets from each of a few 127.0.0.x addresses
    MAX_CONNECTIONS_PER_IP: '20000',
    // ...and opens them as fast as the server takes them: the upgrade rate would refuse all but a burst
    UPGRADE_RATE_PER_SEC: '1000000',
    UPGRADE_RATE_BURST: '1000000',
    CHAT_RATE_PER_SEC: '1000000',
    CHAT_RATE_BURST: '1000000',
    SEND_BUFFER_LIMIT_BYTES: '67108864',
    BENCH_MEM_DIR: MEM_DIR,
    ...extraEnv,
    ...(name === 'bare' ? { METRICS_ENABLED: 'false' } : {}),
    ...(name === 'ws-heap' ? { CARRY_APP_DIR: launch.oursDir } : {})
  }
  // exec: the pid we sample is node's own, not bash's
  const cwd = isOurs(name) ? launch.oursDir : ROOT
  // the server's own log (warn and up) goes to bench/results/<name>.log: a crash leaves its reason there
  const logDir = fileURLToPath(new URL('../results/', import.meta.url))
  mkdirSync(logDir, { recursive: true })
  mkdirSync(MEM_DIR, { recursive: true })
  const logFd = openSync(`${logDir}${name}.log`, 'a')
  const child = spawn('bash', ['-c', `ulimit -n 20000 && exec ${entry}`], { cwd, env, stdio: ['ignore', logFd, logFd] })
  closeSync(logFd)
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGKILL') process.stdout.write(`  ${label} exited: code ${code} signal ${signal} (see bench/results/${name}.log)\n`)
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`${label}: could not spawn`)
  const deadline = Date.now() + 20_000
  while (!await healthy(port)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${label}: did not become healthy on port ${port}`)
    await sleep(100)
  }
  return { name: label, child, pid, port }
}

export async function stopServer (s: Running): Promise<void> {
  if (s.child.exitCode !== null) return
  const gone = new Promise<void>((resolve) => s.child.once('exit', () => resolve()))
  s.child.kill('SIGTERM')
  const t = setTimeout(() => s.child.kill('SIGKILL'), 5000)
  await gone
  clearTimeout(t)
}

/** The load generator process (bench/loadgen.ts): one task at a time, each bounded by a timeout. */
export class Loadgen {
  readonly child: ChildProcess
  private seq = 0
  constructor () {
    this.child = fork(fileURLToPath(new URL('../loadgen.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
  }

  async run (req: Omit<Request, 'id'>, timeoutMs: number): Promise<Reply> {
    const id = ++this.seq
    return await new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.child.off('message', onMessage)
        resolve({ id, windows: [], error: `timed out after ${timeoutMs} ms` })
      }, timeoutMs)
      const onMessage = (msg: Reply) => {
        if (msg.id !== id) return
        clearTimeout(timer)
        this.child.off('message', onMessage)
        resolve(msg)
      }
      this.child.on('message', onMessage)
      this.child.send({ ...req, id })
    })
  }

  stop (): void {
    if (this.child.connected) this.child.disconnect()
    setTimeout(() => { if (this.child.exitCode === null) this.child.kill('SIGKILL') }, 2000).unref()
  }
}
