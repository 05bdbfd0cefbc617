import t from 'tap'
import { addressKey } from '../../../src/limits/address.js'

t.test('IPv4 addresses count on their own', async (t) => {
  t.equal(addressKey('1.2.3.4'), '1.2.3.4')
  t.not(addressKey('1.2.3.4'), addressKey('1.2.3.5'))
  t.equal(addressKey('127.0.0.1', 8), '127.0.0.1', 'the prefix applies to IPv6 only')
})

t.test('IPv4-mapped IPv6 counts as the IPv4 address', async (t) => {
  t.equal(addressKey('::ffff:1.2.3.4'), '1.2.3.4')
  t.equal(addressKey('::FFFF:1.2.3.4'), '1.2.3.4', 'any case')
  t.equal(addressKey('::ffff:102:304'), '1.2.3.4', 'hex form')
  t.equal(addressKey('0:0:0:0:0:ffff:7f00:1'), '127.0.0.1', 'uncompressed')
  t.equal(addressKey('::ffff:1.2.3.4', 128), '1.2.3.4', 'whatever the prefix')
  t.not(addressKey('::1.2.3.4'), '1.2.3.4', 'the deprecated compatible form is an IPv6 address')
})

t.test('IPv6 addresses count by their /64 by default', async (t) => {
  const key = addressKey('2001:db8::1')
  t.equal(key, '2001:db8:0:0:0:0:0:0/64')
  t.equal(addressKey('2001:db8::2'), key)
  t.equal(addressKey('2001:db8:0:0:ffff:ffff:ffff:ffff'), key, 'the last address of the /64')
  t.equal(addressKey('2001:0DB8:0000:0000:0000:0000:0000:0001'), key, 'uncompressed, upper case')
  t.equal(addressKey('2001:db8::1%eth0'), key, 'zone id dropped')
  t.not(addressKey('2001:db8:0:1::1'), key, 'the next /64')
  t.not(addressKey('2001:db9::1'), key)
})

t.test('other prefixes', async (t) => {
  t.equal(addressKey('2001:db8:aaaa:bbbb::1', 48), '2001:db8:aaaa:0:0:0:0:0/48')
  t.equal(addressKey('2001:db8:aaaa:bbbb::1', 56), '2001:db8:aaaa:bb00:0:0:0:0/56')
  t.equal(addressKey('2001:db8:aaaa:bbbb::1', 60), '2001:db8:aaaa:bbb0:0:0:0:0/60')
  t.equal(addressKey('2001:db8::1', 128), '2001:db8:0:0:0:0:0:1/128')
  t.not(addressKey('2001:db8::1', 128), addressKey('2001:db8::2', 128), 'every address on its own at /128')
  t.equal(addressKey('ffff:ffff::', 1), '8000:0:0:0:0:0:0:0/1')
  t.equal(addressKey('7fff::', 1), '0:0:0:0:0:0:0:0/1')
})

t.test('special forms', async (t) => {
  t.equal(addressKey('::'), '0:0:0:0:0:0:0:0/64')
  t.equal(addressKey('::1'), '0:0:0:0:0:0:0:0/64')
  t.equal(addressKey('::1', 128), '0:0:0:0:0:0:0:1/128')
  t.equal(addressKey('fe80::1%en0', 128), 'fe80:0:0:0:0:0:0:1/128')
  t.equal(addressKey('2001:db8::'), addressKey('2001:db8::ffff'), 'trailing ::')
  t.equal(addressKey('1:2:3:4:5:6:7::'), '1:2:3:4:0:0:0:0/64', ':: standing for one group')
  t.equal(addressKey('::2:3:4:5:6:7:8', 128), '0:2:3:4:5:6:7:8/128')
  t.equal(addressKey('64:ff9b::1.2.3.4', 128), '64:ff9b:0:0:0:0:102:304/128', 'embedded IPv4 that is not mapped')
})

t.test('anything else is its own key', async (t) => {
  t.equal(addressKey('unknown'), 'unknown')
  t.equal(addressKey(''), '')
  t.equal(addressKey('1.2.3.4.5'), '1.2.3.4.5')
  t.equal(addressKey('2001:db8:::1'), '2001:db8:::1')
})
