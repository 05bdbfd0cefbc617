// TRUST_PROXY on a real listening server: which address request.ip (the per-IP cap, the registry, logs) sees.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { connect, listen, upgradeStatus } from '../helper.js'
import { ROOT } from '../server-process.js'

const API_TOKEN = 'trust-proxy-test-token-0123456789'
const FORWARDED = { 'x-forwarded-for': '203.0.113.7' }

async function ipsSeen (http: string): Promise<string[]> {
  const res = await fetch(`${http}/connections`, { headers: { authorization: `Bearer ${API_TOKEN}` } })
  const body = await res.json() as { connections: Array<{ ip: string }> }
  return body.connections.map((c) => c.ip)
}

t.test('the listed proxy (127.0.0.1) is trusted: the client is the X-Forwarded-For address', async (t) => {
  const { http, ws } = await listen(t, { TRUST_PROXY: '127.0.0.1', API_TOKEN })
  await connect(t, `${ws}/ws/echo`, { headers: FORWARDED })
  t.same(await ipsSeen(http), ['203.0.113.7'])
})

t.test('a range name (loopback) works the same, and the per-IP cap counts the forwarded address', async (t) => {
  const { http, ws } = await listen(t, { TRUST_PROXY: 'loopback', API_TOKEN, MAX_CONNECTIONS_PER_IP: '1' })
  await connect(t, `${ws}/ws/echo`, { headers: FORWARDED })
  await connect(t, `${ws}/ws/echo`, { headers: { 'x-forwarded-for': '198.51.100.1' } })
  t.equal(await upgradeStatus(`${ws}/ws/echo`, { headers: FORWARDED }), 429, 'a second socket from 203.0.113.7 is over the cap')
  t.same((await ipsSeen(http)).sort(), ['198.51.100.1', '203.0.113.7'])
})

t.test('TRUST_PROXY unset: X-Forwarded-For is ignored, the client is the peer', async (t) => {
  const { http, ws } = await listen(t, { API_TOKEN, MAX_CONNECTIONS_PER_IP: '1' })
  await connect(t, `${ws}/ws/echo`, { headers: FORWARDED })
  t.same(await ipsSeen(http), ['127.0.0.1'])
  t.equal(await upgradeStatus(`${ws}/ws/echo`, { headers: { 'x-forwarded-for': '198.51.100.1' } }), 429,
    'a spoofed header does not buy a new per-IP budget')
})

t.test('a peer that is not the listed proxy cannot set the address', async (t) => {
  const { http, ws } = await listen(t, { TRUST_PROXY: '10.0.0.1', API_TOKEN })
  await connect(t, `${ws}/ws/echo`, { headers: FORWARDED })
  t.same(await ipsSeen(http), ['127.0.0.1'])
})

t.test('the real entry refuses TRUST_PROXY=1 with one line on stderr and exit code 1', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', TRUST_PROXY: '1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  const [code] = await once(child, 'exit') as [number]
  t.equal(code, 1)
  t.equal(stderr, 'config error: invalid TRUST_PROXY="1": a hop count or "true" trusts spoofable X-Forwarded-For; ' +
    'list the proxy\'s addresses instead (e.g. TRUST_PROXY=127.0.0.1 or loopback)\n')
})
