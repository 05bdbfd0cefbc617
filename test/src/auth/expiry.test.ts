import t from 'tap'
import { ExpiryTimer } from '../../../src/auth/expiry.js'

t.test('ExpiryTimer: warns once before, expires at the time, moves on set, steps over long waits', async (t) => {
  const events: string[] = []
  const timer = new ExpiryTimer(Date.now() + 120, 60, { warn: (ms) => events.push(`warn ${ms > 0 && ms <= 60 ? 'ok' : ms}`), expire: () => events.push('expire') })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(events, ['warn ok', 'expire'])
  timer.stop()

  const events2: string[] = []
  const moved = new ExpiryTimer(Date.now() + 100, 10, { warn: () => events2.push('warn'), expire: () => events2.push('expire') })
  moved.set(Date.now() + 10_000)
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.same(events2, [], 'a refresh moved the expiry')
  moved.stop()

  const events3: string[] = []
  const far = new ExpiryTimer(Date.now() + 40 * 24 * 3600 * 1000, 30_000, { warn: () => events3.push('warn'), expire: () => events3.push('expire') })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(events3, [], 'a 40-day token does not fire at once (setTimeout overflow)')
  far.stop()
  const gone = new ExpiryTimer(Date.now() - 1, 10, { warn: () => events3.push('warn'), expire: () => events3.push('expire') })
  t.same(events3, ['expire'], 'an expiry in the past fires at once, with no warning')
  gone.stop()
})
