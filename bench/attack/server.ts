// A fresh server under attack: the real entry with default settings, bench/lib/gc-hook preloaded so
// memory can be read after a full GC, on a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { get } from 'node:http'
import { fileURLToPath } from 'node:url'
import { EnvSchema } from '../../src/config/schema.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const HOST = '127.0.0.1'
export const MEM_DIR = fileURLToPath(new URL('../results/mem/', import.meta.url))
const LOG_DIR = fileURLToPath(new URL('../results/attack/', import.meta.url))

/** `dist`: the build (`npm run attack` builds first); `source`: src/server.ts through tsx (tests: no build step) */
export type Entry = 'dist' | 'source'

export interface Target {
  host: string
  port: number
  pid: number
  child: ChildProcess
  /** the end of the server's log, for the report when it dies */
  output: () => string
}

/** GET a path and resolve with the status (0 when it failed or took more than `timeoutMs`) and body. */
export async function fetchText (port: number, path: string, timeoutMs = 2000): Promise<{ status: number, body: string }> {
  return await new Promise((resolve) => {
    const req = get({ host: HOST, port, path, timeout: timeoutMs, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', () => resolve({ status: 0, body }))
    })
    req.on('error', () => resolve({ status: 0, body: '' }))
    req.on('timeout', () => { req.destroy(); resolve({ status: 0, body: '' }) })
  })
}

/**
 * The environment of the server: ours without any of the service's own settings (a variable left in
 * the caller's shell must not change a limit under test), plus PORT=0 (the kernel picks a free port:
 * one picked here could be taken by another process before the server binds it) and the hook's
 * directory. Everything else, LOG_LEVEL included, is the default a fresh install runs with.
 */
function serverEnv (): Record<string, string> {
  const env: Record<string, string> = {}
  const own = new Set(Object.keys(EnvSchema.properties))
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !own.has(k)) env[k] = v
  return { ...env, NODE_ENV: 'production', PORT: '0', HOST, BENCH_MEM_DIR: MEM_DIR }
}

/** Starts a server whose log goes to bench/results/attack/<name>.log; resolves once it listens and answers /health. */
export async function startServer (entry: Entry, name: string): Promise<Target> {
  mkdirSync(MEM_DIR, { recursive: true })
  mkdirSync(LOG_DIR, { recursive: true })
  const log = `${LOG_DIR}${name}.log`
  // V8's young generation at its full size from the start (as the bench runs its servers): else its
  // growth under the first load is read as RSS the attack left behind
  const v8 = ['--min-semi-space-size=16', '--expose-gc']
  const args = entry === 'dist'
    ? [...v8, '--import', `${ROOT}dist/bench/lib/gc-hook.js`, 'dist/src/server.js']
    : [...v8, '--import', 'tsx', '--import', `${ROOT}bench/lib/gc-hook.ts`, 'src/server.ts']
  // a file, not a pipe: the server's log writes are synchronous, and a pipe this process is too busy to read would stall them
  const fd = openSync(log, 'w')
  const child = spawn(process.execPath, args, { cwd: ROOT, env: serverEnv(), stdio: ['ignore', fd, fd] })
  closeSync(fd)
  const output = () => readFileSync(log, 'utf8').slice(-4000)
  const pid = child.pid
  if (pid === undefined) throw new Error('could not spawn the server')
  // generous: from source (tsx) on a busy machine a start has taken over 30 s
  const deadline = Date.now() + 60_000
  for (;;) {
    const port = Number(/listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(readFileSync(log, 'utf8'))?.[1])
    if (port > 0 && (await fetchText(port, '/health', 1000)).status === 200) return { host: HOST, port, pid, child, output }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`the server did not start (see ${log}): ${output()}`)
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

export async function stopServer (t: Target): Promise<void> {
  const { child } = t
  if (child.exitCode !== null || child.signalCode !== null) return
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await gone
  clearTimeout(timer)
}

/** The value of one unlabelled sample of the Prometheus text, or undefined. */
export function metricValue (text: string, name: string): number | undefined {
  const m = new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text)
  return m === null ? undefined : Number(m[1])
}

/** The sum of every series of a metric (e.g. rt_connections_open over its routes). */
export function metricSum (text: string, name: string): number {
  let sum = 0
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)`, 'gm')
  for (let m = re.exec(text); m !== null; m = re.exec(text)) sum += Number(m[1])
  return sum
}
