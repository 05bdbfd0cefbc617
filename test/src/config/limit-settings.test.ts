import t from 'tap'
import { ConfigError, loadConfig } from '../../../src/config/load.js'

function refused (name: string, value: string): string {
  try {
    loadConfig({ [name]: value })
  } catch (err) {
    if (err instanceof ConfigError) return err.message
    throw err
  }
  return 'accepted'
}

t.test('per-client limits: defaults, and the boot stops naming a bad value', async (t) => {
  const c = loadConfig({})
  t.equal(c.IPV6_PREFIX_BITS, 64)
  t.equal(c.UPGRADE_RATE_PER_SEC, 10)
  t.equal(c.UPGRADE_RATE_BURST, 20)
  t.equal(c.RATE_LIMIT_MAX_CLIENTS, 100_000)
  t.equal(loadConfig({ IPV6_PREFIX_BITS: '128' }).IPV6_PREFIX_BITS, 128)
  t.equal(loadConfig({ IPV6_PREFIX_BITS: '1' }).IPV6_PREFIX_BITS, 1)
  t.equal(loadConfig({ UPGRADE_RATE_PER_SEC: '0.5' }).UPGRADE_RATE_PER_SEC, 0.5)
  const bad: Array<[string, string]> = [
    ['IPV6_PREFIX_BITS', '0'], ['IPV6_PREFIX_BITS', '129'], ['IPV6_PREFIX_BITS', 'all'],
    ['UPGRADE_RATE_PER_SEC', '0'], ['UPGRADE_RATE_PER_SEC', 'fast'],
    ['UPGRADE_RATE_BURST', '0'], ['UPGRADE_RATE_BURST', '-3'],
    ['RATE_LIMIT_MAX_CLIENTS', '0']
  ]
  for (const [name, value] of bad) {
    const message = refused(name, value)
    t.ok(message.startsWith(`invalid ${name}=${JSON.stringify(value)}: `) && !message.includes('\n'), message)
  }
})
