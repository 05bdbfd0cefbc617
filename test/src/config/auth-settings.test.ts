import t from 'tap'
import { ConfigError, loadConfig } from '../../../src/config/load.js'

t.test('AUTH_MAX_TOKEN_TTL_S: a day by default, an integer of 1 s to a year, else the boot stops naming it', async (t) => {
  t.equal(loadConfig({}).AUTH_MAX_TOKEN_TTL_S, 86_400)
  t.equal(loadConfig({ AUTH_MAX_TOKEN_TTL_S: ' 900 ' }).AUTH_MAX_TOKEN_TTL_S, 900)
  t.equal(loadConfig({ AUTH_MAX_TOKEN_TTL_S: '31536000' }).AUTH_MAX_TOKEN_TTL_S, 31_536_000)
  for (const value of ['0', '-5', 'a day', '31536001']) {
    let error: unknown
    try { loadConfig({ AUTH_MAX_TOKEN_TTL_S: value }) } catch (err) { error = err }
    t.ok(error instanceof ConfigError, `${value} is refused`)
    const message = (error as Error).message
    t.ok(message.startsWith(`invalid AUTH_MAX_TOKEN_TTL_S=${JSON.stringify(value)}: `) && !message.includes('\n'), message)
  }
})
