// A real Redis Cluster for the tests: `masters` redis-server processes with --cluster-enabled yes on free
// loopback ports (and `replicasPerMaster` replicas each), joined by `redis-cli --cluster create ... --cluster-yes`,
// each node's cluster config in a temporary directory removed at stop. Every wait is bounded in time.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { requireTool } from '../server-process.js'
import { freePort, haveRedis, REDIS_BIN } from './redis-server.js'

export const REDIS_CLI = process.env.REDIS_CLI ?? 'redis-cli'

/** redis-server 7 or later (sharded pub/sub) and redis-cli: what a cluster needs here. */
export function haveCluster (): boolean {
  if (!haveRedis() || spawnSync(REDIS_CLI, ['--version']).status !== 0) return false
  const v = /v=(\d+)\./.exec(String(spawnSync(REDIS_BIN, ['--version']).stdout))
  return v !== null && Number(v[1]) >= 7
}

/** Skips loudly on a developer machine without them; fails in CI. */
export function requireCluster (t: Test): boolean {
  return requireTool(t, haveCluster(), 'a Redis Cluster needs redis-server 7+ and redis-cli: `apt-get install redis-server redis-tools`', 'REDIS CLUSTER')
}

export interface ClusterNode { port: number, child: ChildProcess | undefined }

export class RedisCluster {
  readonly nodes: ClusterNode[] = []
  readonly #dir = mkdtempSync(join(tmpdir(), 'rt-cluster-'))

  private constructor (readonly masters: number, readonly replicasPerMaster: number) {}

  /** `host:port,...` of every node, as REDIS_CLUSTER_NODES takes it */
  get spec (): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')
  }

  /** Starts the nodes, creates the cluster, waits until every node reports it ok; stopped at the test's end. */
  static async start (t: Test, opts: { masters?: number, replicasPerMaster?: number, timeoutMs?: number } = {}): Promise<RedisCluster> {
    const cluster = new RedisCluster(opts.masters ?? 3, opts.replicasPerMaster ?? 1)
    t.teardown(async () => await cluster.stop())
    await cluster.#create(opts.timeoutMs ?? 30_000)
    return cluster
  }

  async #create (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const count = this.masters * (1 + this.replicasPerMaster)
    for (let i = 0; i < count; i++) this.nodes.push({ port: await freePort(), child: undefined })
    await Promise.all(this.nodes.map(async (n) => await this.#spawn(n, deadline)))
    const create = spawn(REDIS_CLI, ['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas', String(this.replicasPerMaster), '--cluster-yes'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    create.stdout.on('data', (d) => { out += String(d) })
    create.stderr.on('data', (d) => { out += String(d) })
    const timer = setTimeout(() => create.kill('SIGKILL'), Math.max(0, deadline - Date.now()))
    const [code] = await once(create, 'exit') as [number | null]
    clearTimeout(timer)
    if (code !== 0) throw new Error(`redis-cli --cluster create exited ${String(code)}: ${out}`)
    await this.waitOk(deadline - Date.now())
  }

  async #spawn (node: ClusterNode, deadline: number): Promise<void> {
    const args = ['--port', String(node.port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no',
      '--cluster-enabled', 'yes', '--cluster-config-file', join(this.#dir, `nodes-${node.port}.conf`),
      // a dead master is noticed and replaced within about a second
      '--cluster-node-timeout', '1000', '--dir', this.#dir,
      // a replica syncs at once (the default waits 5 s): one still syncing when its master dies may not take over
      '--repl-diskless-sync-delay', '0']
    const child = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    node.child = child
    await new Promise<void>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`redis-server on ${node.port} not ready in time`)), Math.max(0, deadline - Date.now()))
      child.stdout.on('data', (d) => {
        out += String(d)
        if (out.includes('Ready to accept connections')) { clearTimeout(timer); child.stdout.resume(); resolve() }
      })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`redis-server on ${node.port} exited ${String(code)}: ${out}`)) })
    })
  }

  /** One command on one node through redis-cli (no cluster redirection); its output. */
  cli (port: number, ...args: string[]): string {
    const r = spawnSync(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 })
    return r.stdout ?? ''
  }

  /** Waits until every running node reports cluster_state:ok and every running replica's link to its master is up. */
  async waitOk (timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs
    const linked = (port: number) => {
      const info = this.cli(port, 'INFO', 'replication')
      return info.includes('role:master') || info.includes('master_link_status:up')
    }
    for (;;) {
      const running = this.nodes.filter((n) => n.child !== undefined)
      if (running.every((n) => this.cli(n.port, 'CLUSTER', 'INFO').includes('cluster_state:ok') && linked(n.port))) return
      if (Date.now() > until) throw new Error(`the cluster did not become ok in ${timeoutMs} ms`)
      await sleep(100)
    }
  }

  /** The port of the master that holds `key`'s slot as the running nodes see it (undefined while none does). */
  masterOf (key: string): number | undefined {
    const slot = Number(this.cli(this.nodes[0]!.port, 'CLUSTER', 'KEYSLOT', key).trim())
    for (const n of this.nodes) {
      if (n.child === undefined) continue
      for (const line of this.cli(n.port, 'CLUSTER', 'NODES').split('\n')) {
        const f = line.split(' ')
        if (!(f[2] ?? '').includes('master') || (f[2] ?? '').includes('fail')) continue
        for (const range of f.slice(8)) {
          const [lo, hi] = range.split('-').map(Number)
          if (lo !== undefined && slot >= lo && slot <= (hi ?? lo)) return Number((f[1] ?? '').split(':')[1]?.split('@')[0])
        }
      }
    }
    return undefined
  }

  /**
   * Waits until a running master other than `not` holds `key`'s slot and every running node is ok: after a
   * master is killed, the others keep reporting ok until the node timeout marks it failed.
   */
  async failedOver (key: string, not: number, timeoutMs = 20_000): Promise<number> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const port = this.masterOf(key)
      if (port !== undefined && port !== not) {
        await this.waitOk(Math.max(0, until - Date.now()))
        return port
      }
      if (Date.now() > until) throw new Error(`no replica took over the slot of ${key} in ${timeoutMs} ms`)
      await sleep(100)
    }
  }

  /** SIGKILLs one node (a master: its replica takes over after the node timeout) and forgets it. */
  async kill (port: number): Promise<void> {
    const node = this.nodes.find((n) => n.port === port)
    const child = node?.child
    if (node === undefined || child === undefined) return
    node.child = undefined
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }

  /**
   * Starts killed nodes again on their ports with their cluster config: they rejoin (a master whose slots a
   * replica took comes back as that replica). Waits until every node is ok and every replica linked.
   */
  async restart (ports: number[], timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    const nodes = this.nodes.filter((n) => ports.includes(n.port) && n.child === undefined)
    await Promise.all(nodes.map(async (n) => await this.#spawn(n, deadline)))
    await this.waitOk(Math.max(0, deadline - Date.now()))
  }

  /** Kills every node and removes their files. */
  async stop (): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => await this.kill(n.port)))
    rmSync(this.#dir, { recursive: true, force: true })
  }
}
