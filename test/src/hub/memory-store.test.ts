import t from 'tap'
import { MemoryStore } from '../../../src/hub/memory-store.js'
import type { ChatMessage, PresenceEvent } from '../../../src/hub/types.js'

function store (historySize = 5, historyTtlMs = 0, now?: () => number) {
  const s = new MemoryStore({ historySize, historyTtlMs, ...(now !== undefined ? { now } : {}) })
  const messages: ChatMessage[] = []
  const presence: PresenceEvent[] = []
  s.setListener({ message: (m) => messages.push(m), presence: (e) => presence.push(e) })
  return { s, messages, presence }
}

t.test('seq is gapless per room and starts at 1; ids are unique', async (t) => {
  const { s, messages } = store()
  for (let i = 0; i < 3; i++) await s.publish('a', { from: 'x', text: `a${i}` })
  await s.publish('b', { from: 'x', text: 'b0' })
  t.same(messages.map((m) => [m.room, m.seq]), [['a', 1], ['a', 2], ['a', 3], ['b', 1]])
  t.equal(new Set(messages.map((m) => m.id)).size, 4)
})

t.test('history keeps the last HISTORY_SIZE; resume returns exactly what is after since', async (t) => {
  const { s } = store(5)
  for (let i = 1; i <= 8; i++) await s.publish('r', { from: 'x', text: `m${i}` })
  const all = await s.backlog('r')
  t.same(all.messages.map((m) => m.seq), [4, 5, 6, 7, 8])
  t.equal(all.seq, 8)
  t.equal(all.truncated, false, 'a fresh client without since is not told of a gap')
  const r = await s.backlog('r', 6, all.epoch)
  t.same(r.messages.map((m) => m.seq), [7, 8])
  t.equal(r.truncated, false)
  const edge = await s.backlog('r', 3, all.epoch)
  t.same(edge.messages.map((m) => m.seq), [4, 5, 6, 7, 8])
  t.equal(edge.truncated, false, 'since=3 with 4.. held loses nothing')
  const lost = await s.backlog('r', 2, all.epoch)
  t.same(lost.messages.map((m) => m.seq), [4, 5, 6, 7, 8])
  t.equal(lost.truncated, true, 'seq 3 is gone')
  const upToDate = await s.backlog('r', 8, all.epoch)
  t.same(upToDate.messages, [])
  t.equal(upToDate.truncated, false)
  const limited = await s.backlog('r', 4, all.epoch, 2)
  t.same(limited.messages.map((m) => m.seq), [5, 6], 'limit pages forward from since')
})

t.test('a foreign epoch or a since beyond the room means truncated with everything held', async (t) => {
  const { s } = store(5)
  for (let i = 1; i <= 3; i++) await s.publish('r', { from: 'x', text: `m${i}` })
  const { epoch } = await s.backlog('r')
  const other = await s.backlog('r', 2, 'someone-elses')
  t.equal(other.truncated, true)
  t.same(other.messages.map((m) => m.seq), [1, 2, 3])
  const ahead = await s.backlog('r', 10, epoch)
  t.equal(ahead.truncated, true)
  t.same(ahead.messages.map((m) => m.seq), [1, 2, 3])
  const fresh = new MemoryStore({ historySize: 5, historyTtlMs: 0 })
  const restarted = await fresh.backlog('r', 3, epoch)
  t.equal(restarted.truncated, true, 'a restarted hub does not know the old epoch')
  t.not(restarted.epoch, epoch)
})

t.test('a repeated cid is not published again while the original is held', async (t) => {
  const { s, messages } = store(2)
  const first = await s.publish('r', { from: 'x', text: 'hi', cid: 'c1' })
  const again = await s.publish('r', { from: 'x', text: 'hi', cid: 'c1' })
  t.equal(again.duplicate, true)
  t.equal(again.message.id, first.message.id)
  t.equal(messages.length, 1)
  const elsewhere = await s.publish('other', { from: 'x', text: 'hi', cid: 'c1' })
  t.equal(elsewhere.duplicate, false, 'cids are per room')
  await s.publish('r', { from: 'x', text: 'a' })
  await s.publish('r', { from: 'x', text: 'b' })
  const late = await s.publish('r', { from: 'x', text: 'hi', cid: 'c1' })
  t.equal(late.duplicate, false, 'once the original left history the cid is new again')
})

t.test('history TTL drops old messages', async (t) => {
  let now = 1000
  const { s } = store(10, 500, () => now)
  await s.publish('r', { from: 'x', text: 'old' })
  now = 1400
  await s.publish('r', { from: 'x', text: 'new' })
  now = 1600
  const b = await s.backlog('r')
  t.same(b.messages.map((m) => m.text), ['new'])
  const resumed = await s.backlog('r', 0, b.epoch)
  t.equal(resumed.truncated, true, 'seq 1 expired')
})

t.test('presence: join/leave events, refcount per key, empty rooms forgotten', async (t) => {
  const { s, presence } = store(0)
  t.same(await s.join('r', { key: 'a', name: 'Ann' }), { names: ['Ann'], count: 1 })
  t.same(await s.join('r', { key: 'b', name: 'Bob' }), { names: ['Ann', 'Bob'], count: 2 })
  t.same(await s.join('r', { key: 'b', name: 'Bob' }), { names: ['Ann', 'Bob'], count: 2 }, 'second socket of one key')
  await s.leave('r', { key: 'b', name: 'Bob' })
  t.same(await s.members('r'), ['Ann', 'Bob'], 'still one socket left')
  await s.leave('r', { key: 'b', name: 'Bob' })
  t.same(await s.members('r'), ['Ann'])
  t.same(presence.map((e) => `${e.type}:${e.name}`), ['join:Ann', 'join:Bob', 'leave:Bob'])
  await s.leave('r', { key: 'a', name: 'Ann' })
  t.same(await s.rooms(), [], 'a room with no members and no history is gone')
})

t.test('presence cap: above it no join/leave events and no names, the count stays right', async (t) => {
  const s = new MemoryStore({ historySize: 0, historyTtlMs: 0, presenceMaxMembers: 2 })
  const presence: PresenceEvent[] = []
  s.setListener({ message () {}, presence: (e) => presence.push(e) })
  await s.join('big', { key: 'a', name: 'A' })
  t.same(await s.join('big', { key: 'b', name: 'B' }), { names: ['A', 'B'], count: 2 })
  t.same(await s.join('big', { key: 'c', name: 'C' }), { names: [], count: 3 }, 'over the cap: count only')
  await s.leave('big', { key: 'c', name: 'C' })
  await s.leave('big', { key: 'b', name: 'B' })
  t.same(presence.map((e) => `${e.type}:${e.name}`), ['join:A', 'join:B', 'leave:B'], 'silent above the cap')
  t.same(await s.members('big'), ['A'], 'members() still tells everything')
})

t.test('a cid dedupes per sender: another sender reusing it is published, each retry gets its own original', async (t) => {
  const { s, messages } = store(5)
  const mallory = await s.publish('r', { from: 'Mallory', sender: 'mallory', text: 'first', cid: 'k1' })
  const alice = await s.publish('r', { from: 'Alice', sender: 'alice', text: 'mine', cid: 'k1' })
  t.equal(alice.duplicate, false, "Alice's k1 is not Mallory's")
  t.not(alice.message.id, mallory.message.id)
  t.same(messages.map((m) => m.text), ['first', 'mine'], 'both broadcast')
  t.same((await s.backlog('r')).messages.map((m) => m.text), ['first', 'mine'], 'both held')
  const retry = await s.publish('r', { from: 'Mallory', sender: 'mallory', text: 'first', cid: 'k1' })
  t.equal(retry.duplicate, true)
  t.equal(retry.message.id, mallory.message.id, "Mallory's retry gets her original")
  const again = await s.publish('r', { from: 'Alice (tab 2)', sender: 'alice', text: 'mine', cid: 'k1' })
  t.equal(again.message.id, alice.message.id, 'the same sender under another display name (another socket) gets the original')
  const byName = await s.publish('r', { from: 'Mallory', text: 'no sender given', cid: 'k1' })
  t.equal(byName.duplicate, false, 'without a sender the display name is the sender, and "Mallory" is not "mallory"')
  t.equal(messages.length, 3)
})
