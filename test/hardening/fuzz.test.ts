import t from 'tap'
import fc from 'fast-check'
import { parseClientFrame } from '../../src/protocol/chat.js'
import { connect, listen } from '../helper.js'

// hostile JSON: deep nesting, huge numbers, __proto__/constructor keys, NUL and lone surrogates, big arrays
const hostileKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'type', 'text', 'cid', 'toString', '', 'ref', 'room', 'data', 'event', 'since', 'epoch')
const hostileString = fc.oneof(
  fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('\u0000', '\ud800', '\udfff', 'a\ud83d', '<img src=x onerror=alert(1)>', 'x'.repeat(3000))
)
const leaf = fc.oneof(hostileString, fc.double(), fc.constantFrom(1e308, -1e308, 2 ** 64, Number.MAX_SAFE_INTEGER + 2), fc.boolean(), fc.constant(null))
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('tree'), { maxLength: 5 }), fc.dictionary(fc.oneof(hostileKey, fc.string()), tie('tree'), { maxKeys: 5 }))
}))
const frameText = fc.oneof(
  tree.map((v) => JSON.stringify(v) ?? 'null'),
  fc.record({ type: fc.oneof(fc.constantFrom('message', 'ping', 'refresh'), hostileString), text: tree, cid: tree }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
  fc.record({
    type: fc.constantFrom('subscribe', 'unsubscribe', 'publish', 'signal', 'message'),
    ref: tree,
    room: fc.oneof(tree, fc.constantFrom('a', '@u', '@', 'a b')),
    data: tree,
    text: tree,
    event: fc.oneof(tree, fc.constantFrom('e', 'a:b.c', 'bad event')),
    since: tree,
    epoch: tree
  }, { requiredKeys: ['type'] }).map((v) => JSON.stringify(v)),
  fc.nat({ max: 2000 }).map((d) => '['.repeat(d) + ']'.repeat(d)),
  fc.nat({ max: 2000 }).map((d) => '{"a":'.repeat(d) + '1' + '}'.repeat(d)),
  fc.constant(JSON.stringify({ type: 'message', text: 'x', list: Array.from({ length: 10_000 }, (_, i) => i) })),
  fc.constant('{"type":"message","text":"p","__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
  fc.string({ unit: 'binary' })
)

t.test('parseClientFrame: never throws, always a message with valid text or an error, prototypes untouched', async (t) => {
  fc.assert(fc.property(frameText, (raw) => {
    const f = parseClientFrame(raw, 2000)
    if (f.type === 'message') {
      if (typeof f.text !== 'string' || f.text.trim() === '' || [...f.text].length > 2000) return false
      if (f.cid !== undefined && (typeof f.cid !== 'string' || f.cid.length < 1 || f.cid.length > 64)) return false
    } else if (f.type === 'error') {
      if (typeof f.code !== 'string' || typeof f.message !== 'string') return false
    } else if (f.type === 'publish' || f.type === 'signal' || f.type === 'subscribe' || f.type === 'unsubscribe') {
      if (typeof f.room !== 'string' || f.room === '') return false
      if (f.ref !== undefined && typeof f.ref !== 'number' && (typeof f.ref !== 'string' || f.ref.length > 64)) return false
    } else if (f.type !== 'ping') return false
    return ({} as Record<string, unknown>).polluted === undefined && Object.getPrototypeOf({}) === Object.prototype
  }), { numRuns: 3000 })
  t.pass('3000 hostile frames')
})

t.test('a live chat under hostile frames: error frames or messages, never a crash or an invalid broadcast', async (t) => {
  const { app, ws: base } = await listen(t, { CHAT_RATE_PER_SEC: '100000', CHAT_RATE_BURST: '100000' })
  const attacker = await connect(t, `${base}/ws/chat/fuzz?name=Mallory`)
  await attacker.frames.next('welcome')
  const watcher = await connect(t, `${base}/ws/chat/fuzz?name=Watcher`)
  await watcher.frames.next('welcome')
  const samples = fc.sample(frameText, { numRuns: 400, seed: 42 })
  for (const raw of samples) attacker.ws.send(raw)
  attacker.ws.send('{"type":"message","text":"END"}')
  await watcher.frames.next((f) => f.text === 'END', 15000)
  for (const m of watcher.frames.all('message')) {
    t.equal(typeof m.text, 'string')
    t.ok((m.text as string).trim() !== '' && [...(m.text as string)].length <= 2000, 'only valid texts were broadcast')
  }
  const replies = attacker.frames.seen.filter((f) => f.type === 'error' || f.type === 'message' || f.type === 'pong').length
  t.ok(replies >= samples.length, `every frame got an answer (${replies})`)
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype was changed')
  t.equal((await app.inject('/health')).statusCode, 200, 'the process lives')
})
