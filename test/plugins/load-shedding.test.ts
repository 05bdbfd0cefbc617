import { once } from 'node:events'
import type { IncomingHttpHeaders } from 'node:http'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { connect, listen } from '../helper.js'
import { sampleWindowMs } from '../../plugins/load-shedding.js'

// well above the scheduling noise of a busy shared machine, so only the saturation below trips it
const LIMIT_MS = 100
// three times the limit: every sample window that holds a slice reads well over LIMIT_MS
const SLICE_MS = 300
const OVERLOADED = /^server overloaded: event loop delay .+, limit 100 ms$/

/**
 * Saturates this process's event loop, which is also the server's (it runs in-process): busy slices of
 * SLICE_MS with one loop turn between them, so I/O still trickles through as on a server at its limit.
 */
function saturate (t: Test): () => void {
  let on = true
  const slice = (): void => {
    if (!on) return
    const end = performance.now() + SLICE_MS
    while (performance.now() < end) { /* the work the server cannot keep up with */ }
    setImmediate(slice)
  }
  setImmediate(slice)
  const stop = (): void => { on = false }
  t.teardown(stop)
  return stop
}

/** Probes until `ok` holds (each probe is a request: under saturation it takes several slices). */
async function until<T> (probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (ok(value)) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 10)) // poll interval, not a wait for the condition
  }
}

async function get (url: string): Promise<{ status: number, headers: Headers, body: Record<string, unknown> }> {
  const res = await fetch(url)
  return { status: res.status, headers: res.headers, body: await res.json() as Record<string, unknown> }
}

/** A refused upgrade as the client sees it: status, headers and JSON body, before any 101. */
async function refusedUpgrade (url: string): Promise<{ status: number, headers: IncomingHttpHeaders, body: Record<string, unknown> }> {
  const ws = new WebSocket(url)
  return await new Promise((resolve, reject) => {
    ws.on('unexpected-response', (_req, res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => {
        ws.terminate()
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> })
      })
    })
    ws.on('open', () => { ws.terminate(); reject(new Error(`upgrade to ${url} was accepted`)) })
    ws.on('error', reject)
  })
}

/** Opens a socket, retrying while it is shed: a starved machine can read as overloaded outside the saturation too. */
/** upgrades refused with 503 while openAccepted retried (a loaded machine can trip the limit again) */
let retried = 0

async function openAccepted (t: Test, url: string): Promise<WebSocket> {
  const opened = await until(async () => {
    try {
      return (await connect(t, url)).ws
    } catch (err) {
      if (String(err).includes('Unexpected server response: 503')) { retried++; return null }
      throw err
    }
  }, (ws) => ws !== null, `an upgrade to ${url} to be accepted`)
  return opened!
}

async function echoes (ws: WebSocket, text: string): Promise<string> {
  const reply = once(ws, 'message') // listen before sending
  ws.send(text)
  const [data] = await reply as [Buffer]
  return String(data)
}

t.test('the sample window follows the limit, between 100 ms and 1 s', async (t) => {
  t.equal(sampleWindowMs(1), 100)
  t.equal(sampleWindowMs(50), 100)
  t.equal(sampleWindowMs(250), 250)
  t.equal(sampleWindowMs(1000), 1000)
  t.equal(sampleWindowMs(60_000), 1000)
})

t.test('a saturated event loop sheds new work; open sockets, /health and /ready still answer', async (t) => {
  const { http, ws: base } = await listen(t, { MAX_EVENT_LOOP_DELAY_MS: String(LIMIT_MS) })
  // building the app blocks the loop for longer than a 100 ms window: the first sample can read overloaded
  await until(() => get(`${http}/ready`), (r) => r.status === 200, 'the window that held the boot to pass')
  retried = 0
  const open = await openAccepted(t, `${base}/ws/echo`) // opened before the overload
  t.equal(await echoes(open, 'before'), 'before')

  const stop = saturate(t)
  const ready = await until(() => get(`${http}/ready`), (r) => r.status === 503, '/ready to say overloaded')
  t.match(ready.body, { status: 'unavailable', reason: OVERLOADED }, '/ready says why')

  const upgrade = await refusedUpgrade(`${base}/ws/echo`)
  t.equal(upgrade.status, 503, 'a new upgrade is refused before the 101')
  t.equal(upgrade.headers['retry-after'], '1')
  t.match(upgrade.body, { statusCode: 503, error: 'Service Unavailable', message: OVERLOADED })

  for (const path of ['/rooms', '/config']) {
    const res = await get(`${http}${path}`)
    t.equal(res.status, 503, `GET ${path} is shed`)
    t.equal(res.headers.get('retry-after'), '1')
    t.match(res.body, { statusCode: 503, error: 'Service Unavailable', message: OVERLOADED })
  }
  const health = await get(`${http}/health`)
  t.equal(health.status, 200, 'liveness is not shed')
  t.match(health.body, { status: 'ok', connections: { total: 1, echo: 1 } })

  t.equal(await echoes(open, 'during'), 'during', 'the socket opened before the overload still echoes')
  t.equal((await get(`${http}/ready`)).status, 503, 'all of the above happened while overloaded')

  stop()
  await until(() => get(`${http}/ready`), (r) => r.status === 200, '/ready to recover')
  const after = await openAccepted(t, `${base}/ws/echo`)
  t.equal(await echoes(after, 'after'), 'after', 'new upgrades succeed once the loop recovers')
  t.equal(await echoes(open, 'still'), 'still')
  await until(() => get(`${http}/rooms`), (r) => r.status === 200, 'HTTP requests to be served again')

  const metrics = await (await fetch(`${http}/metrics`)).text()
  // the one refused above, and any openAccepted met while the loop was slow
  t.match(metrics, new RegExp(`^rt_upgrade_refusals_total\\{reason="overloaded"\\} ${1 + retried}$`, 'm'), 'every refused upgrade is counted as overloaded')
})

t.test('MAX_EVENT_LOOP_DELAY_MS=0 turns shedding off', async (t) => {
  // the same saturation, proved by a second app that does shed, while the one with 0 serves on
  const witness = await listen(t, { MAX_EVENT_LOOP_DELAY_MS: String(LIMIT_MS) })
  const off = await listen(t, { MAX_EVENT_LOOP_DELAY_MS: '0' })
  t.notOk(off.app.hasPlugin('@fastify/under-pressure'), 'under-pressure is not registered at all')
  await until(() => get(`${witness.http}/ready`), (r) => r.status === 200, 'the witness\'s boot window to pass')

  const stop = saturate(t)
  await until(() => get(`${witness.http}/ready`), (r) => r.status === 503, 'the witness to shed')
  t.equal((await get(`${off.http}/rooms`)).status, 200)
  t.same((await get(`${off.http}/ready`)).body, { status: 'ready' })
  const { ws } = await connect(t, `${off.ws}/ws/echo`) // no retry: this app never sheds
  t.equal(await echoes(ws, 'hi'), 'hi', 'upgrades are accepted')
  t.equal((await get(`${witness.http}/ready`)).status, 503, 'while the loop was still saturated')
  stop()
})
