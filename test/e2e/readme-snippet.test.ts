// README's client snippet, run as a reader runs it: the fenced block after `<!-- snippet: client -->` is written
// into an app whose node_modules links this package (as an install would), imported, and pointed at a real host
// with the plugin under /rt. Only the snippet's placeholder origin (example.com) becomes the host's; on Node < 22
// the snippet's own comment is followed (uncomment the `ws` import, pass it as the WebSocket option). What the
// snippet and the prose after it claim is asserted: three rooms, its own message back, the acked publish, a push
// to its user over POST /rt/users/:userId/messages, and a resume of every room after a dropped connection.
import { EventEmitter, once } from 'node:events'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import t, { type Test } from 'tap'
import Fastify from 'fastify'
import realtime from '../../plugins/realtime.js'
import { mint } from '../../src/token.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const JWT_SECRET = 'readme-snippet-secret-0123456789abcdef'
const API_TOKEN = 'readme-snippet-api-token-0123456789'
const auth = { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }

/** The fenced code block right after `<!-- snippet: <name>` in a Markdown file. */
function snippet (markdown: string, name: string): string {
  const at = markdown.indexOf(`<!-- snippet: ${name}`)
  if (at === -1) throw new Error(`no <!-- snippet: ${name} --> marker`)
  const rest = markdown.slice(at)
  const block = /-->\n```[a-z]*\n([^]*?)\n```\n/.exec(rest)
  if (block === null || block.index !== rest.indexOf('-->')) throw new Error(`no fenced block right after the ${name} marker`)
  return block[1]!
}

/** `from` replaced by `to`, refusing a snippet where `from` is not: the substitution must not silently do nothing. */
function replaceAll (code: string, from: string, to: string): string {
  if (!code.includes(from)) throw new Error(`the snippet no longer contains ${JSON.stringify(from)}`)
  return code.replaceAll(from, to)
}

/** A reader's app directory: node_modules links this package and ws; removed at teardown. */
function readerApp (t: Test, code: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rt-readme-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(ROOT, join(dir, 'node_modules', 'fastify-realtime'), 'dir')
  symlinkSync(join(ROOT, 'node_modules', 'ws'), join(dir, 'node_modules', 'ws'), 'dir')
  writeFileSync(join(dir, 'package.json'), '{"type":"module","private":true}\n')
  const file = join(dir, 'snippet.mjs')
  writeFileSync(file, code)
  return file
}

/** console.log as a list the test can wait on (the snippet reports only through it). */
function captureConsole (t: Test): { lines: unknown[][], next: (match: (line: unknown[]) => boolean, what: string) => Promise<unknown[]> } {
  const lines: unknown[][] = []
  const events = new EventEmitter()
  const original = console.log
  console.log = (...args: unknown[]) => { lines.push(args); events.emit('line') }
  t.teardown(() => { console.log = original })
  let cursor = 0
  return {
    lines,
    async next (match, what) {
      const timer = setTimeout(() => events.emit('error', new Error(`timed out waiting for ${what}; logged ${JSON.stringify(lines.slice(-5))}`)), 10_000)
      try {
        for (;;) {
          for (; cursor < lines.length; cursor++) if (match(lines[cursor]!)) return lines[cursor++]!
          await once(events, 'line')
        }
      } finally { clearTimeout(timer) }
    }
  }
}

t.test('the README client snippet, run as it is against a host with the plugin under /rt', async (t) => {
  const code = snippet(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'client')

  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(realtime, { prefix: '/rt', authMode: 'jwt', jwtSecret: JWT_SECRET, apiToken: API_TOKEN, maxEventLoopDelayMs: 0 })
  // the reader's backend: signs in Ann as the user `ann`
  const signing = { alg: 'HS256' as const, key: new TextEncoder().encode(JWT_SECRET) }
  app.get('/my-app/token', async () => await mint(signing, { sub: 'ann', name: 'Ann', ttlSeconds: 600 }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  const http = `http://127.0.0.1:${port}`

  let runnable = replaceAll(code, 'wss://example.com', `ws://127.0.0.1:${port}`)
  runnable = replaceAll(runnable, 'https://example.com', http)
  const builtIn = (globalThis as { WebSocket?: unknown }).WebSocket !== undefined
  t.comment(`node ${process.version}: ${builtIn ? 'the snippet verbatim, the global WebSocket' : 'ws passed as the WebSocket option'}`)
  if (!builtIn) {
    // Node < 22: what the snippet's comment tells the reader to do
    runnable = replaceAll(runnable, "// import WebSocket from 'ws'", "import WebSocket from 'ws'")
    runnable = replaceAll(runnable, 'new RealtimeClient({', 'new RealtimeClient({ WebSocket,')
  }
  // the test's handle on what the snippet made, so it can close the client
  const file = readerApp(t, `${runnable}\nexport { client, ack }\n`)

  const log = captureConsole(t)
  const { client, ack } = await import(pathToFileURL(file).href) as {
    client: { rooms: string[], state: string, close: () => void }
    ack: { room: string, seq: number, id: string, epoch: string, cid: string }
  }
  t.teardown(() => client.close())

  t.same(client.rooms, ['news', 'prices', 'ops'], 'the three rooms on one socket')
  for (const room of ['news', 'prices', 'ops']) {
    const res = await fetch(`${http}/rt/rooms/${room}`, { headers: auth })
    t.match(await res.json(), { room, members: ['Ann'] }, `the server holds Ann in ${room} (the token's name)`)
  }
  t.equal(app.realtime.registry.size, 1, 'one socket')

  t.match(ack, { room: 'prices', seq: 1, id: String, epoch: String, cid: String }, 'the publish is settled by the server\'s ack')
  t.same(log.lines.find((l) => l[0] === 'acked'), ['acked', 1, ack.epoch])
  t.same(await log.next((l) => l[0] === 'prices', 'its own message back'), ['prices', 1, 'price', { usd: 101.5 }])

  // a push to the user, from the backend
  const pushed = await fetch(`${http}/rt/users/ann/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ event: 'invoice', data: { id: 7 } }) })
  t.equal(pushed.status, 201)
  const [label, detail] = await log.next((l) => l[0] === 'pushed to me', 'the push to @ann')
  t.equal(label, 'pushed to me')
  t.match(detail, { type: 'message', room: '@ann', from: 'server', event: 'invoice', data: { id: 7 }, seq: 1 })

  // a network drop: the server side of the socket dies; what is published meanwhile comes with the resume
  for (const conn of app.realtime.registry.values()) conn.socket.terminate()
  const missed = await fetch(`${http}/rt/rooms/news/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ text: 'while you were away', from: 'ops-bot' }) })
  t.match(await missed.json(), { seq: 1 })
  t.same(await log.next((l) => l[0] === 'news', 'the missed news message'), ['news', 1, undefined, 'while you were away'])
  // after the resume, a later message in the room published to before the drop: nothing before it comes again
  await fetch(`${http}/rt/rooms/prices/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ event: 'price', data: { usd: 99 } }) })
  t.same(await log.next((l) => l[0] === 'prices', 'the next price'), ['prices', 2, 'price', { usd: 99 }])
  const rooms = log.lines.filter((l) => ['news', 'prices', 'ops'].includes(l[0] as string)).map((l) => `${String(l[0])}#${String(l[1])}`)
  t.same(rooms, ['prices#1', 'news#1', 'prices#2'], 'nothing missed, nothing twice')
  t.equal(client.state, 'OPEN')
})
