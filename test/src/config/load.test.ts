import t from 'tap'
import { ConfigError, loadConfig } from '../../../src/config/load.js'

t.test('defaults match the documented contract', async (t) => {
  const c = loadConfig({})
  t.equal(c.PORT, 3000)
  t.equal(c.HOST, '127.0.0.1')
  t.equal(c.LOG_LEVEL, 'info')
  t.equal(c.TRUST_PROXY, false)
  t.same(c.ALLOWED_ORIGINS, [])
  t.equal(c.HEARTBEAT_INTERVAL_MS, 30000)
  t.equal(c.TIME_INTERVAL_MS, 1000)
  t.equal(c.MAX_PAYLOAD_BYTES, 65536)
  t.equal(c.MAX_CONNECTIONS, 10000)
  t.equal(c.CHAT_MAX_LENGTH, 2000)
  t.equal(c.SHUTDOWN_TIMEOUT_MS, 10000)
  t.equal(c.HISTORY_SIZE, 100)
  t.equal(c.HISTORY_TTL_MS, 0)
  t.equal(c.CHAT_RATE_PER_SEC, 10)
  t.equal(c.CHAT_RATE_BURST, 20)
  t.equal(c.SEND_BUFFER_LIMIT_BYTES, 1048576)
  t.equal(c.API_TOKEN, undefined)
})

t.test('strings from the environment are converted', async (t) => {
  const c = loadConfig({ PORT: '8080', HISTORY_SIZE: ' 5 ', LOG_LEVEL: 'debug', CHAT_RATE_PER_SEC: '2.5' })
  t.equal(c.PORT, 8080)
  t.equal(c.HISTORY_SIZE, 5)
  t.equal(c.LOG_LEVEL, 'debug')
  t.equal(c.CHAT_RATE_PER_SEC, 2.5)
})

t.test('PERMESSAGE_DEFLATE: off by default; true/false or 1/0, anything else refused', async (t) => {
  t.equal(loadConfig({}).PERMESSAGE_DEFLATE, false)
  for (const v of ['1', 'true', 'TRUE', ' true ']) t.equal(loadConfig({ PERMESSAGE_DEFLATE: v }).PERMESSAGE_DEFLATE, true, v)
  for (const v of ['0', 'false', 'False', '']) t.equal(loadConfig({ PERMESSAGE_DEFLATE: v }).PERMESSAGE_DEFLATE, false, v)
  for (const v of ['yes', 'on', '2']) t.throws(() => loadConfig({ PERMESSAGE_DEFLATE: v }), /^invalid PERMESSAGE_DEFLATE=".*": Expected boolean$/, v)
})

t.test('MAX_EVENT_LOOP_DELAY_MS: 1000 by default, 0 turns shedding off, a whole number of ms up to 60 s', async (t) => {
  t.equal(loadConfig({}).MAX_EVENT_LOOP_DELAY_MS, 1000)
  t.equal(loadConfig({ MAX_EVENT_LOOP_DELAY_MS: '0' }).MAX_EVENT_LOOP_DELAY_MS, 0)
  for (const v of ['-1', '60001', 'fast']) t.throws(() => loadConfig({ MAX_EVENT_LOOP_DELAY_MS: v }), /^invalid MAX_EVENT_LOOP_DELAY_MS=/, v)
})

t.test('bad values name the variable in one line', async (t) => {
  const cases: Array<[string, string]> = [
    ['PORT', 'abc'], ['PORT', '70000'], ['LOG_LEVEL', 'loud'], ['MAX_CONNECTIONS', '0'],
    ['TIME_INTERVAL_MS', '50'], ['HISTORY_TTL_MS', '-1'], ['API_TOKEN', 'short'], ['CHAT_RATE_PER_SEC', '0']
  ]
  for (const [name, value] of cases) {
    let error: unknown
    try { loadConfig({ [name]: value }) } catch (err) { error = err }
    t.ok(error instanceof ConfigError, `${name}=${value} is refused`)
    const message = (error as Error).message
    t.ok(message.startsWith(`invalid ${name}=`) && !message.includes('\n'), message)
  }
})

t.test('an Integer setting takes digits only: a fraction stops the boot instead of being truncated', async (t) => {
  const cases: Array<[string, string]> = [['PORT', '80.9'], ['HISTORY_SIZE', '1.5'], ['HISTORY_SIZE', ' 2.5 '], ['HISTORY_SIZE', '1e2'], ['HISTORY_SIZE', '2.0'],
    ['MAX_CONNECTIONS', '0x10'], ['AUTH_MAX_TOKEN_TTL_S', '-0.5'], ['PORT', 'abc']]
  for (const [name, value] of cases) {
    t.throws(() => loadConfig({ [name]: value }), new ConfigError(`invalid ${name}=${JSON.stringify(value)}: Expected integer`), `${name}=${value}`)
  }
  t.equal(loadConfig({ PORT: '80' }).PORT, 80, 'a whole number still passes')
  t.equal(loadConfig({ HISTORY_SIZE: '+7' }).HISTORY_SIZE, 7, 'with a sign too')
  t.throws(() => loadConfig({ HISTORY_SIZE: '-1' }), /^invalid HISTORY_SIZE="-1": /, 'and the range check still applies')
  t.equal(loadConfig({ CHAT_RATE_PER_SEC: '2.5' }).CHAT_RATE_PER_SEC, 2.5, 'a Number setting keeps its fraction')
})

t.test('TRUST_PROXY: addresses, CIDRs and range names; off by default', async (t) => {
  for (const v of ['false', 'FALSE', '', ' ', ',']) t.equal(loadConfig({ TRUST_PROXY: v }).TRUST_PROXY, false, JSON.stringify(v))
  t.same(loadConfig({ TRUST_PROXY: '127.0.0.1, 10.0.0.0/8,::1' }).TRUST_PROXY, ['127.0.0.1', '10.0.0.0/8', '::1'])
  t.same(loadConfig({ TRUST_PROXY: 'fd00::/8,Loopback,linklocal, uniquelocal,192.168.1.0/24' }).TRUST_PROXY,
    ['fd00::/8', 'loopback', 'linklocal', 'uniquelocal', '192.168.1.0/24'], 'any mix, names in any case')
  for (const v of ['proxy.local', '10.0.0.0/40', '::1/129', '10.0.0.0/8/1', '10.0.0.0/255.0.0.0', 'localhost', '127.0.0.1,private']) {
    t.throws(() => loadConfig({ TRUST_PROXY: v }), /^invalid TRUST_PROXY=".*": ".*" is not an IP address, a CIDR or one of loopback, linklocal, uniquelocal \(comma-separated\)$/, v)
  }
})

t.test('TRUST_PROXY: true or a hop count stops the boot with one line saying what to do', async (t) => {
  for (const v of ['true', 'TRUE', '1', '2', '0', '127.0.0.1,1', 'loopback, true']) {
    let error: unknown
    try { loadConfig({ TRUST_PROXY: v }) } catch (err) { error = err }
    t.ok(error instanceof ConfigError, `${v} is refused`)
    t.equal((error as Error).message, `invalid TRUST_PROXY=${JSON.stringify(v)}: a hop count or "true" trusts spoofable X-Forwarded-For; ` +
      'list the proxy\'s addresses instead (e.g. TRUST_PROXY=127.0.0.1 or loopback)')
  }
})

t.test('ALLOWED_ORIGINS are normalised origins', async (t) => {
  t.same(loadConfig({ ALLOWED_ORIGINS: 'https://a.example.com/, http://b.example:8080' }).ALLOWED_ORIGINS,
    ['https://a.example.com', 'http://b.example:8080'])
  t.same(loadConfig({ ALLOWED_ORIGINS: '*' }).ALLOWED_ORIGINS, ['*'])
  t.throws(() => loadConfig({ ALLOWED_ORIGINS: 'not an origin' }), /invalid ALLOWED_ORIGINS/)
})

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
