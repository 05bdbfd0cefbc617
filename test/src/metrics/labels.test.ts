import t from 'tap'
import { closeCodeLabel } from '../../../src/metrics/labels.js'

t.test('closeCodeLabel: the server\'s own codes by number, the rest by range', async (t) => {
  for (const code of [1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 4000, 4001, 4002, 4003, 4500, 4501]) {
    t.equal(closeCodeLabel(code), String(code), `${code} keeps its own label`)
  }
  t.equal(closeCodeLabel(1004), '1xxx', 'a reserved RFC code the server never sends')
  t.equal(closeCodeLabel(1012), '1xxx')
  t.equal(closeCodeLabel(1013), '1xxx', 'the server no longer sends 1013 (4003 instead)')
  t.equal(closeCodeLabel(1999), '1xxx')
  t.equal(closeCodeLabel(3000), '3xxx')
  t.equal(closeCodeLabel(3999), '3xxx')
  t.equal(closeCodeLabel(4004), '4xxx')
  t.equal(closeCodeLabel(4999), '4xxx')
  for (const code of [0, 999, 2000, 2999, 5000, 65535, -1, 1000.5, Number.NaN]) t.equal(closeCodeLabel(code), 'other', `${code} is other`)
})

t.test('closeCodeLabel: every possible code maps onto a small fixed set', async (t) => {
  const labels = new Set<string>()
  for (let code = 0; code <= 65535; code++) labels.add(closeCodeLabel(code))
  t.equal(labels.size, 16 + 4, 'sixteen own codes and four ranges')
})
