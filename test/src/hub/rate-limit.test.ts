import t from 'tap'
import { FLOOD_WINDOW_MS, FloodGuard, TokenBucket } from '../../../src/hub/rate-limit.js'

t.test('token bucket allows the burst then the rate', async (t) => {
  const b = new TokenBucket(10, 20, 0)
  let ok = 0
  for (let i = 0; i < 30; i++) if (b.take(0)) ok++
  t.equal(ok, 20, 'burst')
  t.equal(b.take(50), false, 'half a token after 50 ms')
  t.equal(b.take(100), true, 'one token after 100 ms')
  t.equal(b.take(100), false)
  let later = 0
  for (let i = 0; i < 40; i++) if (b.take(100_000)) later++
  t.equal(later, 20, 'refill is capped at the burst')
})

t.test('flood guard: a burst is not a flood, twice the rate for several seconds is', async (t) => {
  const burst = new FloodGuard(10)
  let closed = false
  for (let i = 0; i < 100; i++) closed ||= burst.strike(0)
  t.equal(closed, false, 'one burst of refusals at one instant')

  const g = new FloodGuard(10)
  const bucket = new TokenBucket(10, 20, 0)
  let closedAt = -1
  for (let now = 0; now < 10_000 && closedAt < 0; now += 50) { // 20 msg/s
    if (!bucket.take(now) && g.strike(now)) closedAt = now
  }
  t.ok(closedAt >= FLOOD_WINDOW_MS, `not before the window (closed at ${closedAt} ms)`)
  t.ok(closedAt > 0 && closedAt < 8000, 'closed within a few seconds')

  const slight = new FloodGuard(10)
  const b2 = new TokenBucket(10, 20, 0)
  let closedSlight = false
  for (let now = 0; now < 20_000; now += 90) { // ~11 msg/s
    if (!b2.take(now)) closedSlight ||= slight.strike(now)
  }
  t.equal(closedSlight, false, 'barely over the limit is throttled, not closed')
})

t.test('token bucket: wait and full do not take', async (t) => {
  const b = new TokenBucket(4, 2, 0)
  t.equal(b.wait(0), 0)
  t.equal(b.full(0), true)
  b.take(0)
  b.take(0)
  t.equal(b.full(0), false)
  t.equal(b.wait(0), 250, 'a token in 250 ms at 4/s')
  t.equal(b.wait(100), 150)
  t.equal(b.take(249), false)
  t.equal(b.wait(250), 0)
  t.equal(b.full(500), true, 'back at the burst after 500 ms')
})
