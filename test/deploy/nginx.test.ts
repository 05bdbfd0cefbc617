import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import WebSocket from 'ws'
import { closed, connect, listen, upgradeStatus, waitFor } from '../helper.js'
import { ROOT, startServer, type ServerProcess } from '../server-process.js'
import { RedisServer, requireRedis } from '../redis/redis-server.js'
import { NGINX, requireNginx, startNginx } from './nginx.js'

const TOKEN = 'test-token-0123456789abcdef'

/** the instance whose log shows connection `id`, and the ip it logged (the line may trail the welcome through the pipe) */
async function whereIs (instances: ServerProcess[], id: unknown): Promise<{ index: number, ip: unknown }> {
  let found = { index: -1, ip: undefined as unknown }
  await waitFor(() => {
    for (const [index, inst] of instances.entries()) {
      const line = inst.lines.find((l) => l.msg === 'ws connected' && l.connId === id)
      if (line !== undefined) found = { index, ip: line.ip }
    }
    return found.index !== -1
  }, `the log line of connection ${String(id)}`)
  return found
}

t.test('behind nginx', async (t) => {
  if (!requireNginx(t) || !requireRedis(t)) return
  const redis = await RedisServer.start(t)
  const env = { REDIS_URL: redis.url, REDIS_PREFIX: 'nx:', TRUST_PROXY: '127.0.0.1', HEARTBEAT_INTERVAL_MS: '300', API_TOKEN: TOKEN }
  // two independent processes: booted side by side, each boot is seconds of module loading
  const instances = await Promise.all([startServer(t, env), startServer(t, env)])
  const proxy = await startNginx(t, instances.map((i) => i.port), '1s')

  t.test('the page, static files and /health through the proxy', async (t) => {
    const page = await fetch(`${proxy.http}/`)
    t.equal(page.status, 200)
    t.match(await page.text(), /fastify-realtime/)
    t.match(page.headers.get('content-security-policy') ?? '', /^default-src 'self';.*connect-src 'self' ws:\/\/127\.0\.0\.1/,
      "the app's CSP arrives through nginx, naming the public host (X-Forwarded-Host) for sockets")
    const js = await fetch(`${proxy.http}/js/index.js`)
    t.equal(js.status, 200, 'static module served by nginx from public/')
    t.match(js.headers.get('cache-control') ?? '', /public/)
    t.equal(js.headers.get('x-content-type-options'), 'nosniff', 'nginx sends nosniff on the files it serves')
    const health = await fetch(`${proxy.http}/health`)
    t.equal(health.status, 200)
    t.match(await health.json(), { status: 'ok' })
  })

  t.test('echo, time and cross-instance chat through the proxy', async (t) => {
    const echo = await connect(t, `${proxy.ws}/ws/echo`)
    const reply = once(echo.ws, 'message')
    echo.ws.send('through nginx')
    t.equal(String((await reply)[0]), 'through nginx')
    const time = await connect(t, `${proxy.ws}/ws/time?interval=100`)
    await time.frames.next('time')
    await time.frames.next('time')
    const ann = await connect(t, `${proxy.ws}/ws/chat/nx?name=Ann`)
    const annWelcome = await ann.frames.next('welcome')
    const bob = await connect(t, `${proxy.ws}/ws/chat/nx?name=Bob`)
    const bobWelcome = await bob.frames.next('welcome')
    const a = await whereIs(instances, annWelcome.id)
    const b = await whereIs(instances, bobWelcome.id)
    t.not(a.index, -1); t.not(b.index, -1)
    t.not(a.index, b.index, 'least_conn put them on different instances')
    bob.ws.send('across instances')
    t.match(await ann.frames.next('message'), { from: 'Bob', text: 'across instances' })
    echo.ws.close(); time.ws.close(); ann.ws.close(); bob.ws.close()
  })

  t.test('the access log has the path of an upgrade but not its ?token=', async (t) => {
    const secret = 'eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJlLW5vdC1sb2dnZWQ'
    const sock = await connect(t, `${proxy.ws}/ws/echo?token=${secret}`)
    sock.ws.close()
    await once(sock.ws, 'close')
    let log = ''
    await waitFor(() => { // nginx logs a WebSocket when it ends
      log = readFileSync(proxy.accessLog, 'utf8')
      return log.includes('/ws/echo')
    }, 'nginx to log the upgrade')
    t.match(log, /"GET \/ws\/echo HTTP\/1\.1" 101/, 'the upgrade is logged')
    t.notOk(log.includes('c2VjcmV0LXBheWxvYWQ') || log.includes('token='), 'without its query string')
  })

  t.test('the client address: real through the trusted proxy, spoofing ignored directly', async (t) => {
    const via = await connect(t, `${proxy.ws}/ws/chat/ip?name=Via`, { localAddress: '127.0.0.7', headers: { 'x-forwarded-for': '6.6.6.6' } })
    const viaWelcome = await via.frames.next('welcome')
    t.equal((await whereIs(instances, viaWelcome.id)).ip, '127.0.0.7', 'nginx appended the real peer; the spoofed entry is not trusted')
    const direct = await connect(t, `ws://127.0.0.1:${instances[0]!.port}/ws/chat/ip?name=Direct`, { localAddress: '127.0.0.9', headers: { 'x-forwarded-for': '6.6.6.6' } })
    const directWelcome = await direct.frames.next('welcome')
    t.equal((await whereIs(instances, directWelcome.id)).ip, '127.0.0.9', 'a client that is not the proxy cannot set its address')
    via.ws.close(); direct.ws.close()
  })

  t.test('origin checks see the public host through the proxy only', async (t) => {
    const ok = await connect(t, `${proxy.ws}/ws/echo`, { headers: { host: 'public.example' }, origin: 'http://public.example' })
    t.equal(ok.ws.readyState, WebSocket.OPEN, 'a page on the public host may connect through nginx')
    ok.ws.close()
    t.equal(await upgradeStatus(`${proxy.ws}/ws/echo`, { headers: { host: 'public.example' }, origin: 'http://evil.example' }), 403)
    t.equal(await upgradeStatus(`ws://127.0.0.1:${instances[0]!.port}/ws/echo`, {
      localAddress: '127.0.0.9', origin: 'http://evil.example', headers: { 'x-forwarded-host': 'evil.example' }
    }), 403, 'X-Forwarded-Host from an untrusted client does not count')
  })

  t.test('an idle socket outlives proxy_read_timeout (1 s) thanks to the heartbeat', async (t) => {
    const idle = await connect(t, `${proxy.ws}/ws/echo`)
    let closedEarly = false
    idle.ws.once('close', () => { closedEarly = true })
    await new Promise((resolve) => setTimeout(resolve, 2500)) // the point of the test: time passing with no traffic
    t.equal(closedEarly, false)
    const reply = once(idle.ws, 'message')
    idle.ws.send('still here')
    t.equal(String((await reply)[0]), 'still here')
    idle.ws.close()

    // the control: without a heartbeat shorter than the timeout, nginx drops the same idle socket
    const quiet = await listen(t, { HEARTBEAT_INTERVAL_MS: '60000' })
    const strict = await startNginx(t, [quiet.port], '1s')
    const doomed = await connect(t, `${strict.ws}/ws/echo`)
    const started = Date.now()
    const [code] = await closed(doomed.ws, 10_000)
    t.equal(code, 1006, 'cut by the proxy')
    t.ok(Date.now() - started < 5000)
  })

  t.test('rolling restart: 1001, reconnect through nginx to the other instance, resume loses nothing', async (t) => {
    const c = await connect(t, `${proxy.ws}/ws/chat/roll?name=Roller`)
    const welcome = await c.frames.next('welcome')
    c.ws.send(JSON.stringify({ type: 'message', text: 'before', cid: 'r1' }))
    const ack = await c.frames.next('ack')
    const home = (await whereIs(instances, welcome.id)).index
    const closing = closed(c.ws)
    const stopped = instances[home]!.stop()
    t.same(await closing, [1001, 'server shutting down'])
    t.equal(await stopped, 0)
    for (const text of ['during-1', 'during-2']) {
      const res = await fetch(`${proxy.http}/rooms/roll/messages`, {
        method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ text })
      })
      t.equal(res.status, 201, `${text} accepted by the remaining instance`)
    }
    const back = await connect(t, `${proxy.ws}/ws/chat/roll?name=Roller&since=${String(ack.seq)}&epoch=${String(ack.epoch)}`)
    const again = await back.frames.next('welcome')
    t.equal((await whereIs(instances, again.id)).index, 1 - home, 'reconnected to the other instance')
    t.equal(again.truncated, undefined)
    t.same((again.history as Array<{ text: string }>).map((m) => m.text), ['during-1', 'during-2'], 'nothing lost, nothing twice')
    back.ws.close()
  })
})

t.test('the shipped site, unmodified, passes nginx -t', async (t) => {
  if (!requireNginx(t)) return
  const dir = mkdtempSync(join(tmpdir(), 'rt-nginx-t-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'nginx.conf'), `pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events {}
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir}; include ${join(ROOT, 'deploy/nginx.conf')}; }`)
  const res = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' })
  t.equal(res.status, 0, res.stderr)
  t.match(res.stderr, /syntax is ok/)
})
