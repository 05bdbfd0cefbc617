import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import type { Test } from 'tap'
import { requireTool } from '../server-process.js'

export const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server'

export function haveRedis (): boolean {
  return spawnSync(REDIS_BIN, ['--version']).status === 0
}

/** Skips loudly on a developer machine without redis-server; fails in CI. Returns false when unavailable. */
export function requireRedis (t: Test): boolean {
  return requireTool(t, haveRedis(), 'redis-server not found: install it with `apt-get install redis-server`', 'REDIS')
}

export async function freePort (): Promise<number> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const { port } = srv.address() as { port: number }
  srv.close()
  await once(srv, 'close')
  return port
}

/**
 * A real redis-server on a free loopback port that a test can stop and start again: without persistence, or,
 * given a `dir`, with its dump there (written only by an explicit SAVE) and read back at the next start.
 * `args` are more redis-server options (e.g. `--replicaof`).
 */
export class RedisServer {
  child: ChildProcess | undefined
  constructor (readonly port: number, readonly opts: { dir?: string, args?: string[] } = {}) {}

  get url (): string { return `redis://127.0.0.1:${this.port}` }

  static async start (t: Test): Promise<RedisServer> {
    const server = new RedisServer(await freePort())
    await server.start()
    t.teardown(async () => await server.stop())
    return server
  }

  async start (): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no']
    if (this.opts.dir !== undefined) args.push('--dir', this.opts.dir, '--dbfilename', 'dump.rdb')
    if (this.opts.args !== undefined) args.push(...this.opts.args)
    const child = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    this.child = child
    await new Promise<void>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d) => {
        out += String(d)
        if (out.includes('Ready to accept connections')) resolve()
      })
      child.once('exit', (code) => reject(new Error(`redis-server exited ${String(code)}: ${out}`)))
    })
  }

  /** Kills it with SIGKILL: whatever was not in its dump (or, without a dir, everything) is gone. */
  async stop (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    this.child = undefined
  }
}
