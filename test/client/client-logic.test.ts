import t from 'tap'
import { backoffDelay, DEFAULT_BACKOFF } from '../../src/client/backoff.js'
import { Outbox } from '../../src/client/outbox.js'
import { Transcript, type ChatMessage } from '../../src/client/transcript.js'

const msg = (seq: number, text = `m${seq}`): ChatMessage => ({ type: 'message', id: `id${seq}`, room: 'r', seq, from: 'x', text, ts: seq })

t.test('backoff: full jitter under an exponential, capped ceiling, never a tight loop', async (t) => {
  t.equal(backoffDelay(0, DEFAULT_BACKOFF, () => 0.999), 499)
  t.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 0.999), 3996)
  t.equal(backoffDelay(50, DEFAULT_BACKOFF, () => 0.999), 29_970, 'capped')
  t.equal(backoffDelay(50, DEFAULT_BACKOFF, () => 0), DEFAULT_BACKOFF.minMs, 'a zero draw still waits minMs')
  const draws = Array.from({ length: 1000 }, () => backoffDelay(4))
  t.ok(draws.every((d) => d >= 250 && d <= 8000))
  t.ok(new Set(draws).size > 100, 'jittered, not one value')
})

t.test('transcript: history merge without duplicates; live duplicates dropped', async (t) => {
  const tr = new Transcript()
  t.equal(tr.resumeQuery(), undefined)
  tr.welcome({ type: 'welcome', seq: 3, epoch: 'E', history: [msg(1), msg(2), msg(3)] })
  t.same(tr.resumeQuery(), { since: 3, epoch: 'E' })
  t.equal(tr.message(msg(3)).length, 0, 'seen already')
  t.equal(tr.message(msg(4)).length, 1)
  // reconnect: the server sends exactly what is after since=4, plus maybe an overlap
  const added = tr.welcome({ type: 'welcome', seq: 6, epoch: 'E', history: [msg(4), msg(5), msg(6)] })
  t.same(added.map((e) => e.kind === 'message' ? e.message.seq : 'gap'), [5, 6])
  t.same(tr.entries.map((e) => e.kind === 'message' ? e.message.seq : 'gap'), [1, 2, 3, 4, 5, 6], 'no gaps, no duplicates')
})

t.test('transcript: a live message reusing a seen seq is a new epoch: shown after one gap, never twice', async (t) => {
  const tr = new Transcript()
  const again = (seq: number, text: string): ChatMessage => ({ ...msg(seq, text), id: `new${seq}` })
  tr.welcome({ type: 'welcome', seq: 10, epoch: 'old', history: [msg(9), msg(10)] })
  const live = tr.message(again(1, 'first of the new epoch'))
  t.same(live.map((e) => e.kind), ['gap', 'message'], 'not dropped as already seen')
  t.equal(tr.message(again(1, 'first of the new epoch')).length, 0, 'a real duplicate is still dropped')
  t.equal(tr.message(again(2, 'second')).length, 1)
  t.same(tr.resumeQuery(), { since: 2, epoch: 'old' }, 'resumes with the old epoch: the server answers truncated')
  const added = tr.welcome({ type: 'welcome', seq: 3, epoch: 'new', history: [again(1, 'x'), again(2, 'y'), again(3, 'third')], truncated: true })
  t.same(added.map((e) => e.kind === 'message' ? e.message.text : 'gap'), ['third'], 'one gap in all, nothing twice')
  t.same(tr.resumeQuery(), { since: 3, epoch: 'new' })
})

t.test('transcript: truncated welcome marks a gap and resets bookkeeping to the new epoch', async (t) => {
  const tr = new Transcript()
  tr.welcome({ type: 'welcome', seq: 10, epoch: 'old', history: [msg(9), msg(10)] })
  const added = tr.welcome({ type: 'welcome', seq: 1, epoch: 'new', history: [msg(1, 'after restart')], truncated: true })
  t.equal(added[0]?.kind, 'gap')
  t.match(added[1], { kind: 'message', message: { seq: 1, text: 'after restart' } })
  t.same(tr.resumeQuery(), { since: 1, epoch: 'new' })
  const first = new Transcript()
  t.equal(first.welcome({ type: 'welcome', seq: 5, epoch: 'E', history: [msg(5)], truncated: true })[0]?.kind, 'message', 'no gap marker on a first join')
})

t.test('transcript: a live jump in seq is shown as a gap', async (t) => {
  const tr = new Transcript()
  tr.welcome({ type: 'welcome', seq: 1, epoch: 'E', history: [msg(1)] })
  const added = tr.message(msg(4))
  t.same(added.map((e) => e.kind), ['gap', 'message'])
})

t.test('outbox: unacked messages are re-sent with the same cid; final refusals are dropped', async (t) => {
  const box = new Outbox('p')
  const a = box.add('one')
  const b = box.add('two')
  const c = box.add('three')
  t.not(a.cid, b.cid)
  t.same(JSON.parse(box.frame(a)), { type: 'message', text: 'one', cid: a.cid })
  t.equal(box.ack(a.cid), true)
  t.equal(box.ack(a.cid), false, 'a second ack (dedupe retry) is harmless')
  t.equal(box.refused(b.cid, 'rate_limited'), 'retry')
  t.equal(box.refused(c.cid, 'too_long'), 'drop')
  t.same(box.unacked().map((i) => [i.cid, i.text]), [[b.cid, 'two']], 'what goes again after a reconnect')
  t.same(JSON.parse(box.frame(b)).cid, b.cid, 'same cid on the retry, so the server can dedupe it')
  t.equal(box.unacked()[0]?.attempts, 1)
})
