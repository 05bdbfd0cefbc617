// `npm run attack [-- --seconds=N] [--only=room-reads,close-codes] [--shared] [--no-build] [--strict]`
// Each attack an anonymous client can make, against a fresh server with default settings on
// 127.0.0.1, bounded in time and count; prints the table and writes bench/results/attack.json.
// --shared: one server for all the attacks, each from its own baseline. --strict: exit 1 when any row
// is UNBOUNDED (for CI once every defence is in).
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { runAttacks, type Options } from './harness.js'
import { LEGEND, answers, table } from './report.js'
import { ROOT } from './server.js'

function parseArgs (argv: string[]): Options & { build: boolean, strict: boolean } {
  const opts = { seconds: 6, only: [] as string[], entry: 'dist' as const, shared: false, build: true, strict: false }
  for (const arg of argv) {
    if (arg === '--no-build') opts.build = false
    else if (arg === '--strict') opts.strict = true
    else if (arg === '--shared') opts.shared = true
    else if (arg.startsWith('--seconds=')) {
      opts.seconds = Number(arg.slice(10))
      if (!(opts.seconds > 0 && opts.seconds <= 120)) throw new Error('--seconds must be a number in (0, 120]')
    } else if (arg.startsWith('--only=')) opts.only = arg.slice(7).split(',').filter((s) => s !== '')
    else throw new Error(`unknown argument ${arg}`)
  }
  return opts
}

async function main (): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  if (opts.build) {
    process.stdout.write('building: tsc -p tsconfig.build.json, tsc -p bench/tsconfig.build.json\n')
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
    execFileSync('npx', ['tsc', '-p', 'bench/tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
  }
  const rows = await runAttacks({
    ...opts,
    onRow: (r) => process.stdout.write(`${r.attack}: ${r.outcome} (${r.verdict}); ${answers(r)}\n`)
  })
  process.stdout.write(`\n${table(rows)}\n\n${LEGEND}\n`)
  const out = fileURLToPath(new URL('../results/attack.json', import.meta.url))
  mkdirSync(fileURLToPath(new URL('../results/', import.meta.url)), { recursive: true })
  writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), node: process.version, seconds: opts.seconds, rows }, null, 2))
  if (opts.strict && rows.some((r) => r.outcome === 'UNBOUNDED')) process.exitCode = 1
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
