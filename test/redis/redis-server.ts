import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { requireTool } from '../server-process.js'

export const REDIS_BIN = process.env.REDIS_SERVER ?? 'redis-server'

export function haveRedis (): boolean {
  return spawnSync(REDIS_BIN, ['--version']).status === 0
}

/** Sentinel mode: Debian's redis-server runs it with --sentinel (redis-sentinel is the same binary). */
export function haveSentinel (): boolean {
  const help = spawnSync(REDIS_BIN, ['--help'])
  return `${String(help.stdout)}${String(help.stderr)}`.includes('--sentinel')
}

/** Skips loudly on a developer machine without Sentinel; fails in CI. */
export function requireSentinel (t: Test): boolean {
  return requireTool(t, haveSentinel(), 'redis-server without Sentinel mode: install redis-sentinel (`apt-get install redis-sentinel redis-server`)', 'REDIS SENTINEL')
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
  constructor (readonly port: number, readonly opts: { dir?: string, args?: string[], sentinel?: string } = {}) {}

  get url (): string { return `redis://127.0.0.1:${this.port}` }

  static async start (t: Test): Promise<RedisServer> {
    const server = new RedisServer(await freePort())
    await server.start()
    t.teardown(async () => await server.stop())
    return server
  }

  async start (): Promise<void> {
    if (this.opts.sentinel !== undefined) {
      // a Sentinel rewrites its config file: it lives in the test's directory
      const conf = join(this.opts.dir ?? tmpdir(), `sentinel-${this.port}.conf`)
      writeFileSync(conf, `port ${this.port}\nbind 127.0.0.1\nprotected-mode no\n${this.opts.sentinel}\n`)
      await this.#spawn([conf, '--sentinel'], '+monitor master')
      return
    }
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no']
    if (this.opts.dir !== undefined) args.push('--dir', this.opts.dir, '--dbfilename', 'dump.rdb')
    if (this.opts.args !== undefined) args.push(...this.opts.args)
    await this.#spawn(args, 'Ready to accept connections')
  }

  async #spawn (args: string[], ready: string): Promise<void> {
    const child = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    this.child = child
    await new Promise<void>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d) => {
        out += String(d)
        if (out.includes(ready)) resolve()
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
