// One pass of the bench: every named server driven through a list of scenarios, one server at a time,
// in mirrored rounds, with a scenario run again when other work on the machine disturbed it.
import { HOST, type Launch, Loadgen, MEM_DIR, PROTO, type Running, type ServerName, startServer, stopServer, TITLE } from './lib/launch.js'
import { mergeRounds, quiet, settle } from './lib/stats.js'
import type { Row, Task } from './lib/types.js'
import { printRow } from './report.js'

/** scenarios short enough to run again when other work disturbed them */
// (not idle: its "before" must be a fresh server)
const RETRYABLE = new Set<Task['kind']>(['echo', 'handshake', 'time'])

/**
 * Drives every named server in turn, scenario by scenario, so that the ratios compare runs seconds
 * apart rather than minutes apart (the VM's speed drifts). Ours goes last in each scenario: a room
 * fill it cannot finish leaves it busy, and must not load the others.
 */
export async function benchAll (launch: Launch, names: ServerName[], tasks: Array<{ group: string, task: Task }>,
  env: Record<string, string>, rows: Row[], quietSeconds: number, retryBudgetMs = 0): Promise<void> {
  await quiet(quietSeconds)
  const t0 = Date.now()
  const order = [...names].sort((a, b) => Number(a === 'ours') - Number(b === 'ours'))
  // each server starts just before its first scenario, so every one meets it at the same point of its
  // life. Started all at once, the last one had idled with a few GCs before its idle fill, and V8 then
  // built its net.Sockets in dictionary mode, with more heap per socket than the same server measured
  // right after boot (seen with %HasFastProperties at the 'connection' event; bench/README.md, Noticed).
  const servers: Array<{ name: ServerName, running: Running | null }> = order.map((name) => ({ name, running: null }))
  const gen = new Loadgen()
  const started = async (s: { name: ServerName, running: Running | null }): Promise<Running | null> => {
    if (s.running !== null) return s.running
    try {
      s.running = await startServer(s.name, TITLE[s.name], env, launch)
    } catch (err) {
      rows.push(failedRow(TITLE[s.name], 'start', err))
      servers.splice(servers.indexOf(s), 1)
    }
    return s.running
  }
  try {
    for (const { group, task } of tasks) {
      // a short scenario measured while other work took a quarter core is run again (for every
      // server, so the ratios stay same-run) while the time budget allows; the calmer attempt is kept
      let best: Row[] | null = null
      let bestNoise = Infinity
      for (let attempt = 0; attempt < 3; attempt++) {
        // echo runs twice, servers in order then in reverse (A B C C B A): the VM's speed drifts
        // within seconds, and the mirrored order cancels a drift that is steady
        const rounds = ('rounds' in task ? task.rounds : undefined) ?? (task.kind === 'echo' ? 2 : 1)
        const perRound: Row[][] = []
        for (let round = 0; round < rounds; round++) {
          const got: Row[] = []
          for (const server of round % 2 === 0 ? [...servers] : [...servers].reverse()) {
            const { name } = server
            const label = TITLE[name]
            const running = await started(server)
            if (running === null) continue
            if (running.child.exitCode !== null) {
              got.push(failedRow(label, group, new Error('server exited')))
              continue
            }
            const target = { host: HOST, port: running.port, proto: PROTO[name], serverPid: running.pid, memDir: MEM_DIR }
            const reply = await gen.run({ target, task }, 150_000)
            // the next server's window must not pay for this one's teardown (its closes, leave events)
            await settle(running.pid, 15_000)
            if (reply.error !== undefined) got.push(failedRow(label, group, new Error(reply.error)))
            for (const w of reply.windows) {
              const row: Row = { ...w, server: label, group }
              got.push(row)
              printRow(row)
            }
          }
          perRound.push(got)
        }
        const got = rounds === 1 ? perRound[0]! : mergeRounds(perRound)
        const noise = Math.max(0, ...got.map((r) => r.otherCpu ?? 0))
        if (noise < bestNoise) {
          best = got
          bestNoise = noise
        }
        const retryable = RETRYABLE.has(task.kind) && Date.now() - t0 < retryBudgetMs && attempt < (retryBudgetMs < 60_000 ? 1 : 2)
        if (bestNoise < 0.25 || !retryable) break
        process.stdout.write(`  (other work used ${noise.toFixed(2)} cores: running ${group} again)\n`)
        await quiet(5)
      }
      rows.push(...(best ?? []))
    }
  } finally {
    gen.stop()
    await Promise.all(servers.map(async (s) => { if (s.running !== null) await stopServer(s.running) }))
  }
  process.stdout.write(`  (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`)
}

function failedRow (server: string, group: string, err: unknown): Row {
  const message = err instanceof Error ? err.message : String(err)
  process.stdout.write(`  ${server} ${group}: FAILED ${message}\n`)
  return { server, group, label: group, unit: '-', count: 0, seconds: 0, rate: 0, serverCpuSec: 0, serverCpuUs: 0, serverRssBytes: 0, loadgenCpu: 0, error: message }
}
