import t from 'tap'
import { backlogOf, ByteBudget, expiryCutoff, History, newEpoch, type HistoryView } from '../../../src/hub/history.js'
import type { ChatMessage } from '../../../src/hub/types.js'

const msg = (seq: number, ts = seq): ChatMessage => ({ type: 'message', id: `id${seq}`, room: 'r', seq, from: 'x', text: `m${seq}`, ts })

/** A room at `seq` holding the messages `first..seq`. */
function room (first: number, seq: number, epoch = 'E'): HistoryView {
  const held = []
  for (let s = first; s <= seq; s++) held.push({ msg: msg(s) })
  return { epoch, seq, held }
}

const seqs = (messages: ChatMessage[]) => messages.map((m) => m.seq)

t.test('epochs are fresh, url-safe and distinct', async (t) => {
  const seen = new Set<string>()
  for (let i = 0; i < 1000; i++) seen.add(newEpoch())
  t.equal(seen.size, 1000)
  t.ok([...seen].every((e) => /^[A-Za-z0-9_-]{8}$/.test(e)), 'base64url, 8 characters')
})

t.test('resume: a client that says nothing gets everything held and no gap', async (t) => {
  const b = backlogOf(room(4, 8), undefined, undefined, Infinity)
  t.same(b, { epoch: 'E', seq: 8, messages: room(4, 8).held.map((h) => h.msg), truncated: false })
})

t.test('resume: exactly what is after since, truncated only when the next one is gone', async (t) => {
  const r = room(4, 8)
  t.same(seqs(backlogOf(r, 6, 'E', Infinity).messages), [7, 8])
  t.equal(backlogOf(r, 6, 'E', Infinity).truncated, false)
  t.same(backlogOf(r, 8, 'E', Infinity), { epoch: 'E', seq: 8, messages: [], truncated: false }, 'up to date')
  t.same(seqs(backlogOf(r, 3, 'E', Infinity).messages), [4, 5, 6, 7, 8])
  t.equal(backlogOf(r, 3, 'E', Infinity).truncated, false, 'since 3 with 4.. held loses nothing')
  t.equal(backlogOf(r, 2, 'E', Infinity).truncated, true, 'seq 3 is gone')
  t.equal(backlogOf(r, 0, undefined, Infinity).truncated, true, 'since without an epoch is checked too')
  t.equal(backlogOf(room(1, 3), 0, 'E', Infinity).truncated, false, 'since 0 with 1.. held')
})

t.test('resume: limit pages forward from since', async (t) => {
  const r = room(4, 8)
  t.same(seqs(backlogOf(r, 4, 'E', 2).messages), [5, 6])
  t.same(seqs(backlogOf(r, undefined, undefined, 0).messages), [], 'limit 0: only seq and epoch')
  t.equal(backlogOf(r, undefined, undefined, 0).seq, 8)
})

t.test('resume: another epoch, or a since beyond the room, is another life of the room', async (t) => {
  const r = room(1, 3)
  const other = backlogOf(r, 2, 'old', Infinity)
  t.equal(other.truncated, true)
  t.same(seqs(other.messages), [1, 2, 3], 'everything held, from the start')
  t.equal(other.epoch, 'E', 'the room tells its own epoch')
  const ahead = backlogOf(r, 10, 'E', Infinity)
  t.equal(ahead.truncated, true)
  t.same(seqs(ahead.messages), [1, 2, 3])
})

t.test('resume: a room with nothing held (new, or history off)', async (t) => {
  const fresh = { epoch: 'E', seq: 0, held: [] }
  t.same(backlogOf(fresh, undefined, undefined, Infinity), { epoch: 'E', seq: 0, messages: [], truncated: false })
  t.same(backlogOf(fresh, 0, 'E', Infinity).truncated, false, 'since 0 in this epoch: nothing missed')
  t.equal(backlogOf(fresh, 0, 'lost', Infinity).truncated, true, 'an epoch of a room that was lost')
  t.equal(backlogOf(fresh, 3, undefined, Infinity).truncated, true, 'a seq the room never reached')
  const off = { epoch: 'E', seq: 5, held: [] }
  t.equal(backlogOf(off, 5, 'E', Infinity).truncated, false, 'up to date with history off')
  t.equal(backlogOf(off, 4, 'E', Infinity).truncated, true, 'seq 5 was never held')
})

t.test('History holds the last `size` and forgets the cids of what it dropped', async (t) => {
  const h = new History(3)
  for (let s = 1; s <= 5; s++) h.hold(msg(s), s === 1 || s === 4 ? `c${s}` : undefined)
  t.same(h.held.map((x) => x.msg.seq), [3, 4, 5])
  t.equal(h.original('c1'), undefined, 'c1 left with seq 1')
  t.equal(h.original('c4')?.seq, 4)
  t.equal(h.original('nope'), undefined)
})

t.test('History of size 0 holds nothing, not even cids', async (t) => {
  const h = new History(0)
  h.hold(msg(1), 'c1')
  t.same(h.held, [])
  t.equal(h.original('c1'), undefined)
})

t.test('History expiry drops what is older than the cutoff, and its cid', async (t) => {
  const h = new History(10)
  h.hold(msg(1, 100), 'old')
  h.hold(msg(2, 200), 'mid')
  h.hold(msg(3, 300), undefined)
  h.expire(expiryCutoff(450, 250))
  t.same(h.held.map((x) => x.msg.seq), [2, 3], 'ts 100 < 200 dropped, ts 200 kept')
  t.equal(h.original('old'), undefined)
  t.equal(h.original('mid')?.seq, 2)
  h.expire(expiryCutoff(1e12, 0))
  t.equal(h.held.length, 2, 'TTL 0: nothing expires')
  t.equal(expiryCutoff(1000, 0), -Infinity)
  h.expire(Infinity)
  t.same(h.held, [])
})

t.test('ByteBudget expiry takes the expired messages of every room out of the budget, oldest first', async (t) => {
  const budget = new ByteBudget(1_000_000)
  const a = new History(2, budget)
  const b = new History(10, budget)
  a.hold(msg(1, 100), 'a1', 10)
  b.hold(msg(1, 150), 'b1', 20)
  a.hold(msg(2, 200), undefined, 30)
  a.hold(msg(3, 250), undefined, 40) // HISTORY_SIZE 2: a's seq 1 leaves on its own, its queue entry stays
  b.hold(msg(2, 300), undefined, 50)
  t.same([budget.bytes, budget.held], [140, 4])
  t.equal(budget.expire(expiryCutoff(460, 220)), 2, 'ts 150 and 200 are below the cutoff 240, 250 is not')
  t.same(a.held.map((x) => x.msg.seq), [3], 'a lost its expired message')
  t.same(b.held.map((x) => x.msg.seq), [2], 'and b, which nobody read, its own')
  t.equal(b.original('b1'), undefined, 'with its cid')
  t.same([budget.bytes, budget.held], [90, 2], 'their bytes left the budget')
  t.equal(budget.expire(expiryCutoff(460, 220)), 0, 'the oldest held is within the TTL: nothing more')
  t.equal(budget.expire(Infinity), 2)
  t.same([budget.bytes, budget.held, a.held.length, b.held.length], [0, 0, 0, 0])
})
