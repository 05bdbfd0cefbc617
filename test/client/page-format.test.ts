import t from 'tap'
import { dayLabel, fullTime, groupsWith, shortTime, stateText } from '../../src/client/page-format.js'

t.test('state text: badge and sentence for each state', async (t) => {
  const now = 1_000_000
  t.same(stateText({ state: 'OPEN', retryAt: undefined, refused: undefined }, now), { kind: 'OPEN', badge: 'OPEN', sentence: 'connected' })
  t.same(stateText({ state: 'CLOSED', retryAt: now + 2500, refused: undefined }, now),
    { kind: 'CLOSED', badge: 'CLOSED · reconnecting in 3 s', sentence: 'connection lost, reconnecting in 3 s' })
  t.match(stateText({ state: 'CLOSED', retryAt: undefined, refused: { status: 401, message: 'token expired' } }, now),
    { kind: 'REFUSED', badge: 'REFUSED 401: token expired' })
  t.match(stateText({ state: 'CLOSED', retryAt: undefined, refused: undefined, stopped: { code: 4500, reason: 'closed by an administrator' } }, now),
    { kind: 'REFUSED', badge: 'STOPPED 4500: closed by an administrator', sentence: /not reconnecting/ })
  t.equal(stateText({ state: 'CONNECTING', retryAt: undefined, refused: undefined }, now).sentence, 'connecting')
})

t.test('times: local clock today, the date on other days, the full date for hovering', async (t) => {
  const now = new Date(2026, 10, 30, 15, 4, 5).getTime()
  t.equal(shortTime(now), '15:04')
  t.equal(shortTime(now, true), '15:04:05')
  t.equal(dayLabel(now - 60_000, now), undefined, 'today: the time alone')
  const yesterday = new Date(2026, 10, 29, 9, 7).getTime()
  t.match(dayLabel(yesterday, now), /29.*09:07$/)
  t.notMatch(dayLabel(yesterday, now), /2026/, 'same year: no year')
  t.match(dayLabel(new Date(2025, 0, 2, 1, 2).getTime(), now), /2025.*01:02$/)
  t.match(fullTime(now), /2026/)
})

t.test('grouping: same sender within the window, in order', async (t) => {
  t.equal(groupsWith({ from: 'a', ts: 0 }, { from: 'a', ts: 1000 }, 5000), true)
  t.equal(groupsWith({ from: 'a', ts: 0 }, { from: 'b', ts: 1000 }, 5000), false)
  t.equal(groupsWith({ from: 'a', ts: 0 }, { from: 'a', ts: 5000 }, 5000), false)
  t.equal(groupsWith({ from: 'a', ts: 5000 }, { from: 'a', ts: 0 }, 5000), false, 'an older one starts a group')
})
