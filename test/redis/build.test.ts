import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import t from 'tap'
import WebSocket from 'ws'
import { ROOT } from '../server-process.js'
import { RedisServer, requireRedis } from './redis-server.js'

// tsc does not copy the hub's Lua scripts: `npm run build` must, or `npm start` (which runs dist/) cannot
// use Redis. Built in a copy of the project, so the tree the other suites run from is not touched.
// A whole tsc build: minutes on a loaded machine, beyond the suites' usual timeout.
t.setTimeout(600_000)

t.test('the built server finds its Lua scripts and publishes through Redis', async (t) => {
  if (!requireRedis(t)) return
  const redis = await RedisServer.start(t)
  const dir = mkdtempSync(join(tmpdir(), 'rt-build-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const f of ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'plugins', 'routes']) {
    cpSync(join(ROOT, f), join(dir, f), { recursive: true })
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  // the browser bundle is not what this proves, and is the slower half of the build
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  pkg.scripts['build:client'] = 'node -e 0'
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg))

  const build = spawn('npm', ['run', 'build'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  build.stdout.on('data', (d) => { out += String(d) })
  build.stderr.on('data', (d) => { out += String(d) })
  const [code] = await once(build, 'exit') as [number | null]
  t.equal(code, 0, `npm run build: ${out.slice(-2000)}`)
  const lua = (d: string) => readdirSync(d).filter((f) => f.endsWith('.lua')).sort()
  t.same(lua(join(dir, 'dist/src/hub/redis')), lua(join(ROOT, 'src/hub/redis')), 'every script next to the compiled store')

  // as `npm start` runs it, from another working directory: the scripts are found beside the module
  const server = spawn(process.execPath, [join(dir, 'dist/src/server.js')], {
    cwd: tmpdir(),
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', REDIS_URL: redis.url, REDIS_PREFIX: 'built:' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL') })
  let stderr = ''
  server.stderr.on('data', (d) => { stderr += String(d) })
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: server.stdout }).on('line', (line) => {
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
      if (m !== null) resolve(Number(m[1]))
    })
    server.once('exit', (c) => reject(new Error(`built server exited ${String(c)}: ${stderr}`)))
  })

  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/chat/built?name=B`)
  t.teardown(() => ws.terminate())
  const frames: Array<Record<string, unknown>> = []
  const got = new Promise<Record<string, unknown>>((resolve) => {
    ws.on('message', (d) => {
      const f = JSON.parse(String(d)) as Record<string, unknown>
      frames.push(f)
      if (f.type === 'welcome') ws.send(JSON.stringify({ type: 'message', text: 'from dist', cid: 'c1' }))
      // the broadcast and the ack may come in separate reads: wait until both are in
      if (frames.some((x) => x.type === 'ack') && frames.some((x) => x.type === 'message')) resolve(f)
    })
  })
  await got
  t.match(frames.find((f) => f.type === 'message'), { type: 'message', text: 'from dist', seq: 1, room: 'built' })
  t.match(frames.find((f) => f.type === 'ack'), { cid: 'c1', seq: 1 }, 'acked by the publish script')
})
