import t from 'tap'
import { Budgets } from '../../../src/limits/budgets.js'
import { clientKey } from '../../../src/limits/address.js'

t.test('one bucket per key, shared by every taker', async (t) => {
  const b = new Budgets(10, 3, 100, 0)
  let ok = 0
  for (let i = 0; i < 5; i++) if (b.take('a', 0)) ok++
  t.equal(ok, 3, 'the burst, whoever takes it')
  t.equal(b.take('b', 0), true, 'another key has its own')
  t.equal(b.wait('a', 0), 100, 'a token in 100 ms at 10/s')
  t.equal(b.wait('a', 40), 60)
  t.equal(b.wait('a', 40), 60, 'wait does not take')
  t.equal(b.wait('c', 0), 0, 'an unknown key has a token now')
  t.equal(b.size, 2, 'wait adds no bucket')
  t.equal(b.take('a', 100), true)
  t.equal(b.take('a', 100), false)
})

t.test('full buckets are dropped: lazily on a new key, or by sweep', async (t) => {
  const b = new Budgets(10, 2, 100, 0) // an empty bucket fills in 200 ms
  b.take('a', 0)
  b.take('a', 0)
  b.take('b', 0)
  b.take('c', 150)
  t.equal(b.size, 3, 'no sweep before a refill period')
  b.take('d', 200) // a and b are full again by 200 ms; c is not
  t.equal(b.size, 2, 'a and b dropped, c kept, d added')
  t.equal(b.wait('c', 200), 0, 'c has a token')
  t.equal(b.take('a', 200) && b.take('a', 200) && !b.take('a', 200), true, 'a dropped bucket comes back full')
  b.sweep(10_000)
  t.equal(b.size, 0, 'sweep drops every full bucket')
})

t.test('the number of keys is bounded: the oldest goes', async (t) => {
  const b = new Budgets(1, 5, 3, 0)
  for (const k of ['a', 'b', 'c']) b.take(k, 0)
  b.take('d', 1)
  t.equal(b.size, 3)
  t.equal(b.wait('a', 1), 0, 'a was evicted: a new one would be full')
  for (let i = 0; i < 10_000; i++) b.take(`spray-${i}`, 2)
  t.equal(b.size, 3, 'a spray of keys cannot grow the map')
})

t.test('clientKey: the user when there is one, else the address group', async (t) => {
  t.equal(clientKey('2001:db8::1', 'alice', 64), 'u:alice')
  t.equal(clientKey('2001:db8::1', undefined, 64), clientKey('2001:db8::2', undefined, 64))
  t.equal(clientKey('::ffff:10.0.0.1', undefined, 64), '10.0.0.1')
})
