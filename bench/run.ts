// `npm run bench [-- --quick] [--servers=ours,ws,sio,ws-heap] [--only=echo,fanout,time,idle,handshake,hub-fanout,hub-idle,hold,deflate,metrics,cluster]
//   [--echo=500x16384,...] [--env=KEY=VALUE ...] [--node-args="--cpu-prof --cpu-prof-dir=DIR"] [--ours-dir=CHECKOUT] [--no-build]
//   [--report=bench/results/latest.json]`
// Starts each server in turn (ours built, production settings; the bare ws and Socket.IO references),
// drives it with the load generator in a separate process, prints a table and writes
// bench/results/latest.json. Loopback only; every phase is bounded in time. The method, what each
// scenario measures and how the goals are judged: bench/README.md.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Launch, ROOT, type ServerName } from './lib/launch.js'
import { cpuSeconds, rssBytes } from './lib/proc.js'
import type { Row, Task } from './lib/types.js'
import { deflateSummary, goals, goalTable, machine, table } from './report.js'
import { benchAll } from './rounds.js'
import { clusterBench } from './cluster.js'

interface Options extends Launch {
  quick: boolean
  servers: ServerName[]
  only: Set<string> | null
  /** echo shapes to run (SOCKETSxSIZE), or all */
  echo: Set<string> | null
  env: Record<string, string>
  build: boolean
  /** print the tables of a saved results file instead of running */
  report: string | null
}

function parseArgs (argv: string[]): Options {
  const opts: Options = { quick: false, servers: ['ours', 'ws', 'sio'], only: null, echo: null, env: {}, build: true, nodeArgs: '', oursDir: ROOT, report: null }
  for (const arg of argv) {
    if (arg === '--quick') opts.quick = true
    else if (arg === '--no-build') opts.build = false
    else if (arg.startsWith('--servers=')) opts.servers = arg.slice(10).split(',') as ServerName[]
    else if (arg.startsWith('--node-args=')) opts.nodeArgs = arg.slice(12)
    else if (arg.startsWith('--ours-dir=')) opts.oursDir = arg.slice(11)
    else if (arg.startsWith('--report=')) opts.report = arg.slice(9)
    else if (arg.startsWith('--only=')) opts.only = new Set(arg.slice(7).split(','))
    else if (arg.startsWith('--echo=')) opts.echo = new Set(arg.slice(7).split(','))
    else if (arg.startsWith('--env=')) {
      const [k, ...v] = arg.slice(6).split('=')
      if (k !== undefined) opts.env[k] = v.join('=')
    } else throw new Error(`unknown argument ${arg}`)
  }
  return opts
}

/** rooms per socket in the hub scenarios */
const HUB_ROOMS = 20
/** the hub scenarios speak /ws/hub: ours and the bare ws reference only */
const isHub = (group: string) => group.startsWith('hub-')

/** The scenario list, full or quick. Each entry is one loadgen task. */
function plan (quick: boolean): Array<{ group: string, task: Task }> {
  const warmupMs = quick ? 300 : 500
  // echo runs in two rounds per server (see benchAll), so each window is half the budget
  const durationMs = quick ? 700 : 1200
  const echo = (sockets: number, size: number) => ({
    group: 'echo', task: { kind: 'echo', sockets, size, inflight: size > 1024 ? 4 : 16, warmupMs, durationMs } satisfies Task
  })
  if (quick) {
    return [
      { group: 'idle', task: { kind: 'idle', sockets: 4000, settleMs: 500 } },
      echo(50, 64),
      { group: 'handshake', task: { kind: 'handshake', concurrency: 32, durationMs: 800 } },
      { group: 'time', task: { kind: 'time', sockets: 2000, durationMs: 1100 } },
      { group: 'fanout', task: { kind: 'fanout', sizes: [100, 500], oneMs: 600, floodMs: 600, fillTimeoutMs: 8000 } },
      { group: 'hub-fanout', task: { kind: 'fanout', sizes: [100, 500], oneMs: 600, floodMs: 600, fillTimeoutMs: 15_000, hubRooms: HUB_ROOMS } },
      { group: 'hub-idle', task: { kind: 'hub-idle', sockets: 2000, rooms: HUB_ROOMS, settleMs: 500 } }
    ]
  }
  return [
    { group: 'idle', task: { kind: 'idle', sockets: 10_000, settleMs: 1500 } },
    echo(50, 64), echo(500, 64), echo(50, 16384), echo(500, 16384),
    { group: 'handshake', task: { kind: 'handshake', concurrency: 64, durationMs: 2000 } },
    { group: 'time', task: { kind: 'time', sockets: 10_000, durationMs: 3100 } },
    { group: 'fanout', task: { kind: 'fanout', sizes: [100, 1000, 10_000], oneMs: 2000, floodMs: 2000, fillTimeoutMs: 30_000 } },
    // its goal compares one message in flight, where windows of one server swing more than the goal's margin:
    // two rounds in mirrored order (ws, ours, ours, ws), averaged, as echo does
    { group: 'hub-fanout', task: { kind: 'fanout', sizes: [100, 1000], oneMs: 2000, floodMs: 2000, fillTimeoutMs: 30_000, hubRooms: HUB_ROOMS, rounds: 2 } },
    { group: 'hub-idle', task: { kind: 'hub-idle', sockets: 5000, rooms: HUB_ROOMS, settleMs: 1500 } }
  ]
}

/** sockets of the deflate memory scenario: each holds zlib state once it has talked, so fewer than idle's */
const DEFLATE_IDLE_SOCKETS = 5000

/** The variants of a full run, after the main comparison: permessage-deflate, metrics, and the heartbeat hold. */
async function variants (opts: Options, wanted: (group: string) => boolean, rows: Row[], quietSeconds: number): Promise<void> {
  // permessage-deflate (PERMESSAGE_DEFLATE=1) on ours and the bare ws reference, the same task with the
  // load generator compressing its frames; then what it costs ours per socket in memory
  if (wanted('deflate')) {
    const env = { ...opts.env, PERMESSAGE_DEFLATE: '1' }
    const names = opts.servers.filter((n) => n !== 'sio')
    if (names.length > 0) {
      process.stdout.write('permessage-deflate:\n')
      const deflate: Task = { kind: 'echo', sockets: 50, size: 16384, inflight: 4, warmupMs: 500, durationMs: 1200, deflate: true }
      await benchAll(opts, names, [{ group: 'deflate', task: deflate }], env, rows, quietSeconds)
    }
    if (opts.servers.includes('ours')) {
      // a fresh server for each (an idle window's "before" must be one): offer declined vs negotiated
      process.stdout.write(`ours, memory per socket with and without permessage-deflate (${DEFLATE_IDLE_SOCKETS} sockets):\n`)
      for (const offer of [false, true]) {
        const task: Task = { kind: 'idle', sockets: DEFLATE_IDLE_SOCKETS, settleMs: 1000, deflate: offer }
        await benchAll(opts, ['ours'], [{ group: 'deflate', task }], offer ? env : opts.env, rows, 3)
      }
    }
  }
  // metrics: ours with and without the Prometheus plugin, alternating in the same rounds; its rows are
  // renamed so they do not mix with the main table's "ours"
  if (wanted('metrics') && opts.servers.includes('ours')) {
    process.stdout.write('ours with and without metrics:\n')
    const variant: Row[] = []
    // a window swings by more on this VM than the difference sought: more mirrored rounds (A B B A)
    // and a room small enough to fill in a moment
    const fan: Task = { kind: 'fanout', sizes: [200], oneMs: 1000, floodMs: 1500, fillTimeoutMs: 10_000, rounds: 4 }
    const echo: Task = { kind: 'echo', sockets: 50, size: 64, inflight: 16, warmupMs: 300, durationMs: 1000, rounds: 4 }
    await benchAll(opts, ['ours', 'bare'], [{ group: 'metrics', task: echo }, { group: 'metrics', task: fan }], opts.env, variant, 3)
    for (const r of variant) rows.push(r.server === 'ours' ? { ...r, server: 'ours, metrics on' } : r)
  }
  // 15,000 sockets held through several heartbeat rounds (1 s here instead of 30 s, to fit the run)
  if (wanted('hold') && opts.servers.includes('ours')) {
    process.stdout.write('ours, 15,000 sockets with heartbeats every 1 s:\n')
    await benchAll(opts, ['ours'], [{ group: 'hold', task: { kind: 'hold', sockets: 15_000, holdMs: 4000 } }],
      { ...opts.env, HEARTBEAT_INTERVAL_MS: '1000' }, rows, quietSeconds)
  }
}

async function main (): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  if (opts.report !== null) {
    // goals are recomputed, so a saved run can be read with the current goal rules
    const saved = JSON.parse(readFileSync(opts.report, 'utf8')) as { rows: Row[], date: string, mode: string, machine: object }
    process.stdout.write(`${saved.mode} run of ${saved.date} on ${JSON.stringify(saved.machine)}\n\n${table(saved.rows)}\n\n${goalTable(goals(saved.rows))}\n`)
    return
  }
  const started = Date.now()
  const wanted = (group: string) => opts.only === null || opts.only.has(group)
  const echoWanted = (t: Task) => t.kind !== 'echo' || opts.echo === null || opts.echo.has(`${t.sockets}x${t.size}`)
  const tasks = plan(opts.quick).filter((t) => wanted(t.group) && echoWanted(t.task))
  if (opts.build) {
    // every server runs compiled, as plain node: no TypeScript loader in the measured process
    process.stdout.write('building: tsc -p tsconfig.build.json, tsc -p bench/tsconfig.build.json\n')
    // the server only (npm run build also bundles the browser client, which the bench does not load)
    if (opts.servers.includes('ours') || opts.servers.includes('ws-heap')) {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: opts.oursDir, stdio: 'inherit' })
      // tsc does not copy the Redis hub's Lua scripts, which the cluster part loads
      const lua = join(opts.oursDir, 'src/hub/redis')
      for (const f of readdirSync(lua)) if (f.endsWith('.lua')) copyFileSync(join(lua, f), join(opts.oursDir, 'dist/src/hub/redis', f))
    }
    execFileSync('npx', ['tsc', '-p', 'bench/tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
  }
  process.stdout.write(`bench (${opts.quick ? 'quick' : 'full'}): ${JSON.stringify(machine())}\n`)
  const rows: Row[] = []
  const quietSeconds = opts.quick ? 3 : 15
  // idle memory on servers of its own, stopped after it. Its readings force full GCs (gc()), and after
  // them V8 restarted incremental marking right after each mark-compact under 16 KB echo
  // (--trace-incremental-marking: "Start (allocation limit)") in a process with a small heap, and ours
  // echoed slower than bare ws with many more mark-compacts; without the forced GCs it did not
  // (bench/README.md, Method). No server outside the bench is ever made to collect.
  const idle = tasks.filter((t) => t.task.kind === 'idle')
  if (idle.length > 0) await benchAll(opts, opts.servers, idle, opts.env, rows, quietSeconds)
  // retries stop once the main pass has used this much, so the whole run stays under 5 min (quick: 1)
  const rest = tasks.filter((t) => t.task.kind !== 'idle' && !isHub(t.group))
  if (rest.length > 0) await benchAll(opts, opts.servers, rest, opts.env, rows, quietSeconds, opts.quick ? 12_000 : 110_000)
  // the /ws/hub scenarios on servers of their own (hub idle's "before" must be a fresh server's)
  const hubServers = opts.servers.filter((n) => n !== 'sio')
  if (hubServers.length > 0) {
    for (const t of tasks.filter((x) => isHub(x.group))) await benchAll(opts, hubServers, [t], opts.env, rows, quietSeconds)
  }
  if (!opts.quick) await variants(opts, wanted, rows, quietSeconds)
  // instances on one Redis (started by the run): in a full run, or when asked for by name
  if (opts.only?.has('cluster') === true || (opts.only === null && !opts.quick)) await clusterBench(opts, rows)
  const gs = goals(rows)
  const seconds = (Date.now() - started) / 1000
  const out = table(rows) + '\n\n' + goalTable(gs)
  process.stdout.write(`\n${out}\n\ntotal ${seconds.toFixed(0)} s\n`)
  const dir = fileURLToPath(new URL('results/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  writeFileSync(`${dir}latest.json`, JSON.stringify({
    date: new Date().toISOString(), mode: opts.quick ? 'quick' : 'full', seconds, machine: machine(), env: opts.env, oursDir: opts.oursDir, rows, goals: gs, deflate: deflateSummary(rows)
  }, null, 2) + '\n')
  writeFileSync(`${dir}latest.md`, out + '\n')
  process.stdout.write('wrote bench/results/latest.json\n')
}

// self-check of the /proc reader before any load: a broken sampler would make every number zero
if (cpuSeconds(process.pid) < 0 || rssBytes(process.pid) <= 0) throw new Error('cannot read /proc')
await main()
