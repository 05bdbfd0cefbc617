// `npx tsx bench/profile-top.ts FILE.cpuprofile [N]`: the functions with the most self time in a
// profile taken with `npm run bench -- --node-args="--cpu-prof --cpu-prof-dir=DIR"`, and the share
// of the time spent under each of the service's own files (src/, plugins/, routes/).
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

const [file, n = '25'] = process.argv.slice(2)
if (file === undefined) throw new Error('usage: profile-top.ts FILE.cpuprofile [N]')
const prof = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(prof.nodes.map((x) => [x.id, x]))
const self = new Map<number, number>()
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i]!
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0))
}
const total = [...self.values()].reduce((a, b) => a + b, 0)
const idle = new Set(['(idle)', '(program)', '(garbage collector)'])
const byFn = new Map<string, number>()
for (const [id, us] of self) {
  const node = byId.get(id)!
  const { functionName, url, lineNumber } = node.callFrame
  const where = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/(dist\/)/, '$1')
  const key = idle.has(functionName) ? functionName : `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`
  byFn.set(key, (byFn.get(key) ?? 0) + us)
}
const rows = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, Number(n))
process.stdout.write(`total ${(total / 1e6).toFixed(2)} s sampled\n`)
for (const [k, us] of rows) process.stdout.write(`${(100 * us / total).toFixed(1).padStart(5)}%  ${k}\n`)
