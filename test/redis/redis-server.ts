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

/** A real redis-server on a free loopback port, without persistence, that a test can stop and start again. */
export class RedisServer {
  child: ChildProcess | undefined
  constructor (readonly port: number) {}

  get url (): string { return `redis://127.0.0.1:${this.port}` }

  static async start (t: Test): Promise<RedisServer> {
    const server = new RedisServer(await freePort())
    await server.start()
    t.teardown(async () => await server.stop())
    return server
  }

  async start (): Promise<void> {
    const child = spawn(REDIS_BIN, ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
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

  /** Stops it (its data is gone: no persistence). */
  async stop (): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    this.child = undefined
  }
}
