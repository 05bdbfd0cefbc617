import t from 'tap'
import { codePointLength, parseClientFrame, parseName } from '../../../src/protocol/chat.js'

t.test('plain text and non-object JSON are message text', async (t) => {
  t.same(parseClientFrame('hello', 100), { type: 'message', text: 'hello', cid: undefined })
  t.same(parseClientFrame('42', 100), { type: 'message', text: '42', cid: undefined })
  t.same(parseClientFrame('{not json', 100), { type: 'message', text: '{not json', cid: undefined })
})

t.test('protocol frames', async (t) => {
  t.same(parseClientFrame('{"type":"message","text":"hi","cid":"c1"}', 100), { type: 'message', text: 'hi', cid: 'c1' })
  t.same(parseClientFrame('{"type":"ping"}', 100), { type: 'ping' })
  const unknown = parseClientFrame('{"type":"dance"}', 100)
  t.equal(unknown.type, 'error')
  t.match(unknown, { code: 'unknown_type' })
  t.match(parseClientFrame('{"type":"message"}', 100), { type: 'error', code: 'invalid' })
  t.match(parseClientFrame('{"type":"message","text":5}', 100), { type: 'error', code: 'invalid' })
  t.match(parseClientFrame('{"type":"message","text":"   "}', 100), { type: 'error', code: 'invalid' })
  t.match(parseClientFrame('{"text":"x"}', 100), { type: 'error', code: 'invalid' })
  t.match(parseClientFrame('{"type":"message","text":"x","cid":""}', 100), { type: 'error', code: 'invalid' })
  t.match(parseClientFrame(`{"type":"message","text":"x","cid":"${'c'.repeat(65)}"}`, 100), { type: 'error', code: 'invalid' })
  t.match(parseClientFrame('{"type":"message","text":"abcdef","cid":"k"}', 5), { type: 'error', code: 'too_long', cid: 'k' })
  t.match(parseClientFrame('abcdef', 5), { type: 'error', code: 'too_long' })
})

t.test('a type that is not a string never throws (fuzzing found {"type":[{"toString":1e308}]})', async (t) => {
  for (const raw of ['{"type":[{"toString":1e308}]}', '{"type":{"toString":null}}', '{"type":{"valueOf":1,"toString":2}}', '{"type":123}']) {
    t.match(parseClientFrame(raw, 100), { type: 'error', code: 'unknown_type' }, raw)
  }
})

t.test('__proto__ keys do not reach the prototype', async (t) => {
  const f = parseClientFrame('{"type":"message","text":"x","__proto__":{"polluted":true}}', 100)
  t.same(f, { type: 'message', text: 'x', cid: undefined })
  t.equal(({} as Record<string, unknown>).polluted, undefined)
})

t.test('length counts characters, not UTF-16 units', async (t) => {
  t.equal(codePointLength('😀😀', 1), 2)
  t.equal(parseClientFrame('😀😀', 2).type, 'message')
  t.equal(parseClientFrame('😀😀😀', 2).type, 'error')
})

t.test('names', async (t) => {
  t.same(parseName('  Ann ', () => 'g'), { ok: true, name: 'Ann' })
  t.same(parseName(undefined, () => 'guest-1'), { ok: true, name: 'guest-1' })
  t.equal(parseName('', () => 'g').ok, false)
  t.equal(parseName('   ', () => 'g').ok, false)
  t.equal(parseName('a'.repeat(33), () => 'g').ok, false)
  t.equal(parseName('a'.repeat(32), () => 'g').ok, true)
  t.equal(parseName('bad\u0007name', () => 'g').ok, false)
  t.equal(parseName('bad\nname', () => 'g').ok, false)
})
