import t from 'tap'
import { ExpiryTimer } from '../../../src/auth/expiry.js'
import { waitFor } from '../../helper.js'

/** resolves when a plain timer set for `ms` expires: anything due before it has fired by then (timers fire in order) */
async function marker (ms: number): Promise<void> {
  // a ref'd wait, since ExpiryTimer's own timers are unref'd and would not keep the test alive
  const guard = setTimeout(() => {}, ms + 5000)
  await new Promise<void>((resolve) => { const m = new ExpiryTimer(Date.now() + ms, 0, { warn: () => {}, expire: () => { m.stop(); resolve() } }) })
  clearTimeout(guard)
}

t.test('ExpiryTimer: warns once before, expires at the time, moves on set, steps over long waits', async (t) => {
  const events: string[] = []
  // a wide warning window: the warning's "ms left" stays above 0 on a machine busy enough to run it late
  const timer = new ExpiryTimer(Date.now() + 600, 400, { warn: (ms) => events.push(`warn ${ms > 0 && ms <= 400 ? 'ok' : ms}`), expire: () => events.push('expire') })
  await waitFor(() => events.includes('expire'), 'the expiry')
  t.same(events, ['warn ok', 'expire'])
  timer.stop()

  const events2: string[] = []
  const moved = new ExpiryTimer(Date.now() + 100, 10, { warn: () => events2.push('warn'), expire: () => events2.push('expire') })
  moved.set(Date.now() + 10_000)
  await marker(150) // past the old expiry
  t.same(events2, [], 'a refresh moved the expiry')
  moved.stop()

  const events3: string[] = []
  const far = new ExpiryTimer(Date.now() + 40 * 24 * 3600 * 1000, 30_000, { warn: () => events3.push('warn'), expire: () => events3.push('expire') })
  await marker(50) // an overflowing setTimeout would fire after 1 ms, before this
  t.same(events3, [], 'a 40-day token does not fire at once (setTimeout overflow)')
  far.stop()
  const gone = new ExpiryTimer(Date.now() - 1, 10, { warn: () => events3.push('warn'), expire: () => events3.push('expire') })
  t.same(events3, ['expire'], 'an expiry in the past fires at once, with no warning')
  gone.stop()
})
