// GET /rooms/:room/history?before=<seq>: the page's "load older", paging back from the oldest message shown.
import t from 'tap'
import { build } from '../helper.js'

t.test('before pages back through held history; truncated once older messages are gone', async (t) => {
  const app = await build(t, { HISTORY_SIZE: '6' })
  const ws = await app.injectWS('/ws/chat/older?name=Ed')
  t.teardown(() => ws.terminate())
  const eight = new Promise<void>((resolve) => ws.on('message', (d) => {
    const f = JSON.parse(String(d)) as { type: string, seq?: number }
    if (f.type === 'message' && f.seq === 8) resolve()
  }))
  for (let i = 1; i <= 8; i++) ws.send(`n${i}`)
  await eight // held: 3..8
  const get = async (q: string) => (await app.inject(`/rooms/older/history?${q}`)).json() as { epoch: string, truncated: boolean, messages: Array<{ seq: number, text: string }> }
  const { epoch } = await get('limit=1')
  const page = await get(`before=7&limit=2&epoch=${epoch}`)
  t.same(page.messages.map((m) => m.seq), [5, 6], 'the two right under 7')
  t.equal(page.truncated, false)
  const next = await get(`before=5&limit=2&epoch=${epoch}`)
  t.same(next.messages.map((m) => m.text), ['n3', 'n4'])
  const gone = await get(`before=3&limit=2&epoch=${epoch}`)
  t.same(gone.messages, [], 'nothing held under 3')
  t.equal(gone.truncated, true, 'and older messages are gone')
  const short = await get('before=4&limit=100')
  t.same(short.messages.map((m) => m.seq), [3], 'a limit past the start')
  t.equal(short.truncated, true)
  const other = await get('before=7&limit=2&epoch=not-this-one')
  t.same(other.messages, [], 'another epoch: its seqs do not page this one')
  t.equal(other.truncated, true)
  t.same((await get('since=6&before=3')).messages.map((m) => m.seq), [7, 8], 'since wins over before')
  t.equal((await app.inject('/rooms/older/history?before=0')).statusCode, 400)
})
