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
  t.same((await s.rooms()).rooms, [], 'a room with no members and no history is gone')
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

t.test('reads never create state: summary and peek of an unknown room are undefined and add no room', async (t) => {
  const { s } = store()
  await s.publish('kept', { from: 'x', text: 'hi' })
  for (let i = 0; i < 600; i++) {
    t.equal(await s.summary(`ghost${i}`), undefined)
    t.equal(await s.peek(`ghost${i}`, 3, 'e'), undefined)
    t.same(await s.members(`ghost${i}`), [])
  }
  t.same((await s.rooms()).rooms.map((r) => r.room), ['kept'], 'the store holds the one room it held')
  const kept = await s.peek('kept', 0)
  t.same(kept?.messages.map((m) => m.text), ['hi'])
  t.match(await s.summary('kept'), { room: 'kept', members: 0, seq: 1 })
})

t.test('rooms are listed in name order, a page at a time, the cursor the last name', async (t) => {
  const { s } = store()
  const names = ['b', 'a', 'd', 'c', 'e']
  for (const n of names) await s.publish(n, { from: 'x', text: n })
  const first = await s.rooms(2)
  t.same(first.rooms.map((r) => r.room), ['a', 'b'])
  t.equal(first.next, 'b')
  await s.publish('bb', { from: 'x', text: 'new after the cursor' })
  const second = await s.rooms(2, first.next)
  t.same(second.rooms.map((r) => r.room), ['bb', 'c'], 'a room made meanwhile after the cursor shows up')
  const last = await s.rooms(2, 'c')
  t.same(last.rooms.map((r) => r.room), ['d', 'e'])
  t.equal(last.next, undefined, 'no next page after the last room')
  t.same((await s.rooms(10, 'zzz')).rooms, [])
  t.same((await s.rooms()).rooms.length, 6, 'no limit: every room')
})

t.test('idle rooms go: no members and no message for ROOM_IDLE_TTL_MS drops the room and its history', async (t) => {
  let now = 1000
  const s = new MemoryStore({ historySize: 10, historyTtlMs: 0, roomIdleTtlMs: 500, now: () => now })
  t.teardown(() => s.close())
  s.setListener({ message () {}, presence () {} })
  const first = await s.publish('quiet', { from: 'x', text: 'old' })
  await s.publish('busy', { from: 'x', text: 'b' })
  await s.join('held', { key: 'k', name: 'K' })
  now += 400
  await s.publish('busy', { from: 'x', text: 'b2' })
  s.sweep()
  t.ok(await s.summary('quiet'), 'not idle long enough yet')
  now += 101
  s.sweep()
  t.equal(await s.summary('quiet'), undefined, 'idle for the TTL: dropped')
  t.ok(await s.summary('busy'), 'a message 101 ms ago keeps it')
  t.ok(await s.summary('held'), 'a room with members never goes idle')
  now += 10_000
  await s.leave('held', { key: 'k', name: 'K' })
  await s.publish('held', { from: 'x', text: 'after' })
  await s.leave('nobody', { key: 'z', name: 'Z' })
  s.sweep()
  t.ok(await s.summary('held'), 'the idle clock started when the room last saw activity')
  t.equal(await s.summary('busy'), undefined)
  const resumed = await s.backlog('quiet', 1, first.epoch)
  t.equal(resumed.truncated, true, 'a resume of a dropped room is told it lost messages')
  t.not(resumed.epoch, first.epoch, 'a new epoch')
})

t.test('HISTORY_TTL_MS: the sweep takes expired messages of rooms nobody reads out of the byte budget', async (t) => {
  let now = 1000
  const s = new MemoryStore({ historySize: 10, historyTtlMs: 500, historyMaxBytes: 1 << 20, now: () => now })
  t.teardown(() => s.close())
  s.setListener({ message () {}, presence () {} })
  await s.publish('unread', { from: 'x', text: 'old' })
  now += 300
  const fresh = await s.publish('other', { from: 'x', text: 'newer' })
  const freshBytes = Buffer.byteLength(JSON.stringify(fresh.message))
  now += 201
  t.ok(s.heldBytes > freshBytes, 'both held before the sweep')
  s.sweep()
  t.equal(s.heldBytes, freshBytes, 'the expired message no longer counts; the one within the TTL does')
  t.same((await s.peek('other'))?.messages.map((m) => m.text), ['newer'])
  t.same((await s.peek('unread'))?.messages, [])
})

t.test('the idle sweep runs on a timer that does not hold the process open, and stops on close', async (t) => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
  const before = timers()
  const s = new MemoryStore({ historySize: 10, historyTtlMs: 0, roomIdleTtlMs: 100 })
  t.equal(timers(), before, 'unref\'d: it keeps nothing alive')
  s.setListener({ message () {}, presence () {} })
  await s.publish('r', { from: 'x', text: 'y' })
  while (await s.summary('r') !== undefined) await new Promise((resolve) => setTimeout(resolve, 50))
  t.pass('dropped by the timer, no sweep() call needed')
  await s.close()
  await s.close()
  t.pass('close twice is fine')
})

t.test('MAX_ROOMS: a new room evicts the least recently active room without members, else is refused', async (t) => {
  let now = 0
  const s = new MemoryStore({ historySize: 10, historyTtlMs: 0, maxRooms: 3, now: () => ++now })
  s.setListener({ message () {}, presence () {} })
  await s.publish('a', { from: 'x', text: 'a' })
  const b = await s.publish('b', { from: 'x', text: 'b' })
  await s.publish('c', { from: 'x', text: 'c' })
  await s.publish('a', { from: 'x', text: 'a2' }) // a is now the most recently active
  t.equal(await s.canCreate('d'), true)
  await s.publish('d', { from: 'x', text: 'd' })
  t.same((await s.rooms()).rooms.map((r) => r.room), ['a', 'c', 'd'], 'b, the least recently active, was evicted')
  await s.join('a', { key: '1', name: 'A' })
  await s.join('c', { key: '2', name: 'C' })
  await s.join('d', { key: '3', name: 'D' })
  t.equal(await s.canCreate('e'), false, 'every held room has members')
  t.equal(await s.canCreate('a'), true, 'a held room is always fine')
  await t.rejects(s.publish('e', { from: 'x', text: 'e' }), { name: 'RoomLimitError', statusCode: 503 })
  await t.rejects(s.join('e', { key: '4', name: 'E' }), { name: 'RoomLimitError' })
  t.equal((await s.rooms()).rooms.length, 3, 'nothing was created')
  await s.leave('c', { key: '2', name: 'C' })
  t.equal(await s.canCreate('e'), true)
  await s.join('e', { key: '4', name: 'E' })
  t.same((await s.rooms()).rooms.map((r) => r.room), ['a', 'd', 'e'], 'c went when its last member left and a room was needed')
  await s.leave('a', { key: '1', name: 'A' })
  const back = await s.backlog('b', 1, b.epoch)
  t.equal(back.truncated, true, 'a resume of an evicted room is told it lost messages')
  t.same((await s.rooms()).rooms.map((r) => r.room), ['b', 'd', 'e'])
})

t.test('HISTORY_MAX_BYTES: held bytes across rooms stay under the cap, the globally oldest go first', async (t) => {
  const s = new MemoryStore({ historySize: 100, historyTtlMs: 0, historyMaxBytes: 1000 })
  const raws: string[] = []
  s.setListener({ message: (_m, raw) => { if (raw !== undefined) raws.push(raw) }, presence () {} })
  const rooms = ['p', 'q', 'r']
  let peak = 0
  for (let i = 0; i < 60; i++) {
    await s.publish(rooms[i % 3] as string, { from: 'x', text: `é${i}`.repeat(1 + (i % 4)) })
    peak = Math.max(peak, s.heldBytes)
  }
  t.ok(peak <= 1000, `held bytes never over the cap (peak ${peak})`)
  t.equal(raws.length, 60, 'the listener got each message serialised once')
  let held = 0
  for (const room of rooms) {
    for (const m of (await s.peek(room))?.messages ?? []) held += Buffer.byteLength(JSON.stringify(m))
  }
  t.equal(held, s.heldBytes, 'the counter is the UTF-8 JSON bytes of what is held')
  // what is held is a suffix of what was published: every message after the oldest held one is held
  const all = raws.map((r) => JSON.parse(r) as { room: string, seq: number })
  let kept = 0
  for (const room of rooms) kept += (await s.peek(room))?.messages.length ?? 0
  const tail = all.slice(all.length - kept)
  for (const m of tail) {
    const b = await s.peek(m.room)
    t.ok(b?.messages.some((x) => x.seq === m.seq), `${m.room}#${m.seq} is held`)
  }
  const p = await s.peek('p', 1, (await s.peek('p'))?.epoch)
  t.equal(p?.truncated, true, 'a resume from the start of p is told that messages went')
  t.ok(kept < 60 && kept > 0)
})

t.test('the byte budget forgets what left history another way; one message over the cap is not held', async (t) => {
  const s = new MemoryStore({ historySize: 2, historyTtlMs: 0, historyMaxBytes: 1024, roomIdleTtlMs: 0 })
  s.setListener({ message () {}, presence () {} })
  for (let i = 0; i < 5000; i++) await s.publish('r', { from: 'x', text: 'm' })
  const two = (await s.peek('r'))?.messages ?? []
  t.equal(two.length, 2)
  t.equal(s.heldBytes, Buffer.byteLength(JSON.stringify(two[0])) + Buffer.byteLength(JSON.stringify(two[1])))
  await s.publish('big', { from: 'x', text: 'y'.repeat(2000) })
  t.same((await s.peek('big'))?.messages, [], 'a message larger than the cap alone is sent, not held')
  t.ok(s.heldBytes <= 1024)
  await s.close()
  t.equal(s.heldBytes, 0, 'dropped rooms give their bytes back')
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

t.test('MAX_ROOMS: personal streams neither count against rooms nor get refused', async (t) => {
  const s = new MemoryStore({ historySize: 10, historyTtlMs: 0, maxRooms: 2 })
  s.setListener({ message () {}, presence () {} })
  await s.join('@ann', { key: 'u:ann', name: 'Ann' })
  await s.join('@bob', { key: 'u:bob', name: 'Bob' })
  t.equal(await s.canCreate('a'), true, 'two users online do not fill a cap of two rooms')
  await s.join('a', { key: '1', name: 'A' })
  await s.join('b', { key: '2', name: 'B' })
  t.equal(await s.canCreate('c'), false, 'the rooms themselves fill it')
  await t.rejects(s.join('c', { key: '3', name: 'C' }), { name: 'RoomLimitError' })
  t.equal(await s.canCreate('@cat'), true, 'a personal stream is never refused')
  const m = await s.publish('@cat', { from: 'server', data: { n: 1 } })
  t.same(m.message.data, { n: 1 })
  t.equal((await s.backlog('@cat')).messages.length, 1, 'held like a room')
  await s.leave('@ann', { key: 'u:ann', name: 'Ann' })
  await s.publish('@dan', { from: 'server', text: 'x' })
  t.same((await s.rooms()).rooms.map((r) => r.room).sort(), ['@bob', '@dan', 'a', 'b'], '@ann went with its user (nothing held), @cat (no members) was evicted for @dan')
})
