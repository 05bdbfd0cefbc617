// The package as a user gets it: `npm pack`, the tarball installed into a scratch copy of examples/host-app,
// the example compiled against the installed types and run. Its own routes and error handler keep working,
// the plugin serves under /rt, the host's publish reaches a member and the typed client, close() sends 1001,
// the publisher reaches a member through a real Redis, and the bin runs from the install.
import { execFile, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, mkdirSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { dirname, join, posix } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import t from 'tap'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { closed, connect } from '../helper.js'
import { ROOT } from '../server-process.js'
import { RedisServer, requireRedis } from '../redis/redis-server.js'
import type { Publisher } from '../../src/publisher.js'

const run = promisify(execFile)
// a pack, an install and a compile; a build first when dist/ is older than the sources
t.setTimeout(240_000)

/** newest modification time under `dir` (sources the tarball is built from) */
function newest (dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

/** dist/ as `npm run build` leaves it; rebuilt only when a source is newer (a build takes most of a minute) */
async function ensureBuilt (): Promise<void> {
  const marker = join(ROOT, 'dist/plugins/realtime.js')
  // public/js is rebuilt by npm test's pretest and packed from where it is: only the server's sources count
  const sources = Math.max(...['src', 'plugins', 'routes'].map((d) => newest(join(ROOT, d))))
  const client = ['public/js/index.js', 'dist/types/client/index.d.ts'].every((f) => existsSync(join(ROOT, f)))
  if (existsSync(marker) && client && statSync(marker).mtimeMs >= sources - 60_000) return
  await run('npm', ['run', 'build'], { cwd: ROOT })
}

/**
 * `npm install <tarball>`; offline, the project's node_modules stands in for the registry: the tarball unpacked
 * as node_modules/fastify-realtime and every other package linked from the project.
 */
async function install (dir: string, tarball: string): Promise<string> {
  try {
    await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=dev', tarball], { cwd: dir, timeout: 45_000 })
    return 'npm install'
  } catch {
    const modules = join(dir, 'node_modules')
    rmSync(modules, { recursive: true, force: true })
    mkdirSync(join(modules, 'fastify-realtime'), { recursive: true })
    await run('tar', ['xzf', tarball, '-C', join(modules, 'fastify-realtime'), '--strip-components=1'])
    for (const name of readdirSync(join(ROOT, 'node_modules'))) {
      if (name !== '.bin' && name !== 'fastify-realtime') symlinkSync(join(ROOT, 'node_modules', name), join(modules, name))
    }
    return 'the project\'s node_modules'
  }
}

/** examples/host-app/src/client-check.ts as compiled in the scratch copy */
interface ClientCheck {
  watchPrices: (url: string, room: string, onPrice: (usd: number) => void, ws: unknown) => Promise<{ close: () => void }>
  publishPrice: (client: { close: () => void }, room: string, usd: number) => Promise<{ room: string, seq: number }>
}

t.test('the packed tarball in a host app of its own', async (t) => {
  const scratch = mkdtempSync(join(tmpdir(), 'rt-package-'))
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }))
  await ensureBuilt()
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT })
  const [packed] = JSON.parse(stdout) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed!.files.map((f) => f.path)
  t.ok(files.includes('dist/plugins/realtime.d.ts') && files.includes('dist/src/publisher.js') && files.includes('dist/src/cli.js'), 'the plugin, its types, the publisher and the bin are in')
  t.ok(files.includes('dist/src/hub/redis/publish.lua') && files.includes('public/js/index.js'), 'so are the lua scripts and the client')
  t.ok(files.includes('dist/types/client/index.d.ts'), 'the client\'s types')
  // every relative import of a shipped declaration points at a shipped declaration (the client's reach ../protocol)
  const unresolved = files.filter((f) => f.endsWith('.d.ts')).flatMap((f) =>
    [...readFileSync(join(ROOT, f), 'utf8').matchAll(/(?:from|import\() ?'(\.[^']+)\.js'/g)]
      .map((m) => posix.join(dirname(f), `${m[1]!}.d.ts`)).filter((d) => !files.includes(d)).map((d) => `${f} -> ${d}`))
  t.same(unresolved, [], 'every import of a shipped .d.ts resolves inside the tarball')
  // the client's declarations are its API: what index.d.ts reaches (with ../protocol), not the page's internals
  const reached = new Set<string>()
  for (const queue = ['dist/types/client/index.d.ts']; queue.length > 0;) {
    const f = queue.pop()!
    if (reached.has(f) || !files.includes(f)) continue
    reached.add(f)
    for (const m of readFileSync(join(ROOT, f), 'utf8').matchAll(/(?:from|import\() ?'(\.[^']+)\.js'/g)) queue.push(posix.join(dirname(f), `${m[1]!}.d.ts`))
  }
  t.same(files.filter((f) => f.startsWith('dist/types/') && !reached.has(f)), [], 'no declaration the client\'s index does not reach (page.ts, page-format.ts)')
  t.ok(reached.has('dist/types/client/realtime-client.d.ts') && reached.has('dist/types/protocol/frames.d.ts'), 'the client\'s and the protocol\'s types are reached')
  t.notOk(files.some((f) => f.startsWith('test/') || f.startsWith('bench/') || (f.endsWith('.ts') && !f.endsWith('.d.ts')) || f.endsWith('.map')), 'no tests, benches, sources or maps')

  const host = join(scratch, 'host')
  cpSync(join(ROOT, 'examples/host-app'), host, { recursive: true, filter: (src) => !/\/(node_modules|dist)$/.test(src) })
  const how = await install(host, join(scratch, packed!.filename))
  t.comment(`installed through ${how}`)
  // the example type-checks against the installed package (app.realtime.publish included), then runs as JS
  await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', host, '--typeRoots', join(ROOT, 'node_modules/@types')])

  const redis = requireRedis(t) ? await RedisServer.start(t) : undefined
  const { buildHost } = await import(join(host, 'dist/app.js')) as { buildHost: (c: { greeting: string, redisUrl?: string }) => Promise<FastifyInstance> }
  const app = await buildHost({ greeting: 'hi', ...(redis !== undefined ? { redisUrl: redis.url } : {}) })
  let open = true
  t.teardown(async () => { if (open) await app.close() })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const http = `http://127.0.0.1:${port}`

  t.same(await (await fetch(`${http}/`)).json(), { greeting: 'hi' }, 'the host\'s own route and config decorator')
  const fail = await fetch(`${http}/fail`)
  t.equal(fail.status, 409)
  t.same(await fail.json(), { ok: false, reason: 'the host says no' }, 'the host\'s own error handler')
  t.match(await (await fetch(`${http}/rt/health`)).json(), { status: 'ok' })

  const echo = await connect(t, `ws://127.0.0.1:${port}/rt/ws/echo`)
  const back = once(echo.ws, 'message')
  echo.ws.send('ping')
  t.equal(String((await back)[0]), 'ping', '/rt/ws/echo echoes')

  const member = await connect(t, `ws://127.0.0.1:${port}/rt/ws/chat/lobby?name=ann`)
  await member.frames.next('welcome')
  const announced = await fetch(`${http}/announce/lobby`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'from the host' }) })
  t.equal(announced.status, 201)
  t.match(await member.frames.next('message'), { room: 'lobby', from: 'host', text: 'from the host', seq: 1 }, 'the host\'s publish reaches a member')

  // the typed client from fastify-realtime/client, compiled in the example, on the host's hub
  const { watchPrices, publishPrice } = await import(join(host, 'dist/client-check.js')) as ClientCheck
  let wake: () => void = () => {}
  const prices: number[] = []
  const client = await watchPrices(`ws://127.0.0.1:${port}/rt/ws/hub`, 'prices', (usd) => { prices.push(usd); wake() }, WebSocket)
  t.teardown(() => client.close())
  const priceCount = async (n: number): Promise<void> => { while (prices.length < n) await new Promise<void>((resolve) => { wake = resolve }) }
  const priced = await fetch(`${http}/prices/prices`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ usd: 42 }) })
  t.equal(priced.status, 201)
  await priceCount(1)
  t.same(prices, [42], 'the host\'s app.realtime.publish reaches the client\'s typed handler')
  t.match(await publishPrice(client, 'prices', 43), { room: 'prices', seq: 2 }, 'the client\'s publish is acked')
  await priceCount(2)
  t.same(prices, [42, 43])
  client.close() // before the app's close: a 1001 would have it reconnect

  if (redis !== undefined) {
    // the example's worker: createPublisher from the installed fastify-realtime/publisher
    const { publisherFromEnv } = await import(join(host, 'dist/worker.js')) as { publisherFromEnv: (env: Record<string, string>) => Publisher }
    const publisher = publisherFromEnv({ REDIS_URL: redis.url })
    t.teardown(() => publisher.close())
    t.match(await publisher.publish('lobby', { text: 'from a worker', from: 'cron' }), { seq: 2, duplicate: false })
    t.match(await member.frames.next('message'), { from: 'cron', text: 'from a worker', seq: 2 }, 'the publisher reaches a member of the example')
  }

  const echoClosed = closed(echo.ws)
  const memberClosed = closed(member.ws)
  open = false
  await app.close()
  t.equal((await echoClosed)[0], 1001, 'close() sends 1001')
  t.equal((await memberClosed)[0], 1001)

  // the bin, from the install: usage, a token, and the service itself
  const bin = join(host, 'node_modules/.bin/fastify-realtime')
  t.match((await run(bin, ['--help'])).stdout, /usage: fastify-realtime <command>/)
  const token = (await run(bin, ['token', '--sub', 'alice'], { env: { ...process.env, JWT_SECRET: 's'.repeat(32) } })).stdout.trim()
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'token prints a JWT')
  // load shedding off, as in the other suites: a service starting on a busy machine reads as overloaded (503)
  const serve = spawn(bin, ['serve'], { cwd: host, env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', NO_PRETTY: '1', MAX_EVENT_LOOP_DELAY_MS: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { if (serve.exitCode === null) serve.kill('SIGKILL') })
  const served = await new Promise<number>((resolve, reject) => {
    createInterface({ input: serve.stdout }).on('line', (line) => {
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line)
      if (m !== null) resolve(Number(m[1]))
    })
    serve.once('exit', (code) => reject(new Error(`serve exited ${String(code)}`)))
  })
  t.match(await (await fetch(`http://127.0.0.1:${served}/`)).text(), /<html/i, 'serve runs the service with its page')
  const exited = once(serve, 'exit')
  serve.kill('SIGTERM')
  t.same(await exited, [0, null], 'and exits 0 on SIGTERM')
})
