/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The page in Chromium against the real server: many rooms on one /ws/hub socket, readable messages, honest controls.
import { join } from 'node:path'
import t from 'tap'
import { waitFor } from '../helper.js'
import { startServer } from '../server-process.js'
import { launch, SCREENSHOTS } from './browser.js'
import { badge, joinRoom, openPage, say, sees, shown, texts } from './hub-page.js'

const XSS = '<img src=x onerror=alert(1)>'

t.test('two pages, several rooms each on one socket: messages, own marks, times, unread counts, typing', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const server = await startServer(t)
  const url = `http://127.0.0.1:${server.port}/`
  const ann = await openPage(context, url)
  const bob = await openPage(context, url)
  t.equal(await ann.page.isVisible('#auth'), false, 'auth off (the default): no token field')
  t.equal(await ann.page.getAttribute('#composer-input', 'maxlength'), '2000', 'the limit comes from /config')
  for (const w of [ann, bob]) await shown(w.page, 'lobby')

  // the names: Bob's is hostile, and is shown as text
  await bob.page.fill('#chat-name', XSS.slice(0, 32))
  await bob.page.press('#chat-name', 'Enter')
  await badge(bob.page, ['chat'], /^OPEN$/)
  await bob.page.waitForFunction(() => (window as any).realtime.hub.name.startsWith('<img'))
  await bob.page.waitForFunction(() => (window as any).realtime.hub.members('lobby')?.count > 0)

  const hubSockets = () => ann.sockets.filter((u) => u.includes('/ws/hub')).length
  t.equal(hubSockets(), 1)
  await joinRoom(ann.page, 'e2e-b')
  await joinRoom(ann.page, 'e2e-a')
  await joinRoom(bob.page, 'e2e-a')
  await joinRoom(bob.page, 'e2e-b')
  await ann.page.waitForFunction(() => document.getElementById('member-count')?.textContent === '2 members')

  await say(ann.page, 'hello from Ann')
  await sees(bob.page, 'e2e-a', 'hello from Ann')
  await say(ann.page, 'and again')
  await sees(ann.page, 'e2e-a', 'and again')
  t.equal(await ann.page.$$eval('#transcript-e2e-a li.msg.own', (els) => els.length), 2, 'own messages marked')
  t.equal(await ann.page.$$eval('#transcript-e2e-a li.msg.cont', (els) => els.length), 1, 'the second is grouped with the first')
  t.match(await ann.page.textContent('#transcript-e2e-a li.msg .you'), /you/)
  const time = await ann.page.$eval('#transcript-e2e-a li.msg time', (e) => ({ text: e.textContent, dt: e.getAttribute('datetime'), title: e.getAttribute('title') }))
  t.match(time.text, /^\d\d:\d\d$/, 'local time of day')
  t.ok(Math.abs(Date.parse(time.dt ?? '') - Date.now()) < 60_000, 'datetime is the message time')
  t.match(time.title, /\d{4}/, 'the full date on hover')

  // Bob is showing e2e-b: Ann's two messages in e2e-a are unread there
  await bob.page.waitForFunction(() => document.querySelector('#joined [data-room="e2e-a"] .unread')?.textContent === '2 unread')
  t.pass('unread count on the room not shown')
  await say(bob.page, XSS)
  await sees(ann.page, 'e2e-b', XSS)
  await ann.page.waitForFunction(() => document.querySelector('#joined [data-room="e2e-b"] .unread')?.textContent === '1 unread')
  t.equal(await ann.page.$$eval('li.msg img, #joined img', (els) => els.length), 0, 'no element was injected')
  t.equal(await ann.page.textContent('#transcript-e2e-b li.msg .from'), XSS.slice(0, 32), 'hostile name shown as text')

  // Bob switches to e2e-a with the keyboard (Alt+ArrowDown cycles the joined rooms) and types: Ann sees it
  await bob.page.focus('#composer-input')
  await bob.page.keyboard.press('Alt+ArrowUp')
  await shown(bob.page, 'e2e-a')
  t.equal(await bob.page.$('#joined [data-room="e2e-a"] .unread'), null, 'read once shown')
  t.same(await texts(bob.page, 'e2e-a'), ['hello from Ann', 'and again'])
  await bob.page.focus('#composer-input')
  await bob.page.keyboard.type('typing…')
  await ann.page.waitForFunction(() => /is typing…$/.test(document.getElementById('typing')?.textContent ?? ''))
  t.match(await ann.page.textContent('#typing'), /^<img src=x onerror=alert\(1\)> is typing…$/)

  // the room list from GET /rooms, with member counts
  await ann.page.waitForFunction(() => document.querySelector('#joined [data-room="e2e-a"] .count')?.textContent === '2 members')
  t.equal(hubSockets(), 1, 'one socket for all the rooms')

  // echo and time
  await ann.page.fill('#echo-input', 'echo me')
  await ann.page.press('#echo-input', 'Enter')
  await ann.page.waitForFunction(() => document.getElementById('echo-log')?.lastElementChild?.textContent === 'echo me')
  const first = Number(await ann.page.getAttribute('#time-now', 'data-epoch-ms'))
  await ann.page.waitForFunction((f) => Number(document.getElementById('time-now')?.dataset.epochMs) > f, first)
  await ann.page.waitForFunction(() => /ms$/.test(document.getElementById('time-rtt')?.textContent ?? ''))
  await ann.page.screenshot({ path: join(SCREENSHOTS, 'rooms.png'), fullPage: true })
  for (const w of [ann, bob]) {
    t.same(w.dialogs, [], 'no script ran from user text')
    t.same(w.errors, [], 'no page errors')
  }
})

t.test('server restart: inputs say why they are off, every room resumes once, the lost history is marked', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const firstServer = await startServer(t)
  const port = firstServer.port
  const w = await openPage(context, `http://127.0.0.1:${port}/`, ['chat', 'echo'])
  const page = w.page
  await joinRoom(page, 'outage-b')
  await say(page, 'b before')
  await joinRoom(page, 'outage-a')
  await say(page, 'a before')
  await sees(page, 'outage-a', 'a before')
  await sees(page, 'outage-b', 'b before')

  t.equal(await firstServer.stop(), 0)
  await page.waitForFunction(() => /reconnecting in/.test(document.querySelector('[data-badge="chat"]')?.textContent ?? ''))
  t.equal(await page.isDisabled('#composer-input'), true, 'the message box is off while the socket is down')
  t.match(await page.textContent('#composer-hint'), /^Cannot send: connection lost, reconnecting in \d+ s$/)
  t.equal(await page.getAttribute('#composer-input', 'aria-describedby'), 'composer-hint', 'and the reason is its description')
  await page.waitForFunction(() => (document.getElementById('echo-input') as HTMLInputElement).disabled)
  t.match(await page.textContent('#echo-hint'), /^Cannot send:/, 'echo says so too instead of dropping the text')
  t.ok((await page.evaluate(() => (window as any).realtime.said as string[])).some((s) => /^Rooms: connection lost, reconnecting in \d+ s$/.test(s)), 'announced')
  await page.screenshot({ path: join(SCREENSHOTS, 'outage.png'), fullPage: true })

  await startServer(t, { PORT: String(port) })
  // backoff may have grown while the server was down (up to 8-16 s between attempts on a loaded machine)
  await badge(page, ['chat'], /^OPEN$/)
  await page.waitForFunction(() => ['outage-a', 'outage-b'].every((r) => document.querySelectorAll(`#transcript-${r} li.gap`).length === 1),
    undefined, { timeout: 30_000 })
  t.pass('each room marks the lost history (a new epoch) once')
  await say(page, 'a after')
  await sees(page, 'outage-a', 'a after')
  t.same(await texts(page, 'outage-a'), ['a before', 'a after'], 'nothing twice')
  t.same(await texts(page, 'outage-b'), ['b before'])
  await page.screenshot({ path: join(SCREENSHOTS, 'after-restart.png'), fullPage: true })
  t.same(w.errors, [])
})

t.test('load older pages back through GET /rooms/:room/history?before=', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const API_TOKEN = 'page-e2e-api-token-0123456789'
  const server = await startServer(t, { API_TOKEN, HISTORY_SIZE: '300' })
  const base = `http://127.0.0.1:${server.port}`
  for (let i = 1; i <= 130; i++) {
    const res = await fetch(`${base}/rooms/long/messages`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ text: `n${i}`, from: 'feed' }) })
    if (res.status !== 201) throw new Error(`publish ${i}: ${res.status}`)
  }
  // a resume from seq 100 of the room's epoch: the page holds 101-130 and pages back from there
  const epoch = (await (await fetch(`${base}/rooms/long`)).json() as { epoch: string }).epoch
  const w = await openPage(context, `${base}/`)
  await w.page.evaluate((e) => (window as any).realtime.join('long', { since: 100, epoch: e }), epoch)
  await shown(w.page, 'long')
  await waitFor(async () => (await texts(w.page, 'long')).length === 30, 'what followed the saved position')
  const held = await texts(w.page, 'long')
  t.same([held[0], held.at(-1)], ['n101', 'n130'])
  await w.page.focus('#older')
  await w.page.keyboard.press('Enter')
  await w.page.waitForFunction((n) => document.querySelectorAll('#transcript-long li.msg').length > n, held.length)
  const all = await texts(w.page, 'long')
  t.same(all, Array.from({ length: all.length }, (_, i) => `n${130 - all.length + 1 + i}`), 'in order, no gap, no duplicate')
  while (!(await w.page.isHidden('#older'))) {
    await w.page.click('#older')
    await w.page.waitForFunction(() => (window as any).realtime.views.get('long').olderDone || document.getElementById('older')?.hidden)
  }
  t.same(await texts(w.page, 'long'), Array.from({ length: 130 }, (_, i) => `n${i + 1}`), 'back to the start')
  t.match(await w.page.textContent('#transcript-long li:first-child'), /Start of the room/)
  t.same(w.errors, [])
})

t.test('a refused handshake (400: a bad name) is not retried', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const server = await startServer(t)
  const w = await openPage(context, `http://127.0.0.1:${server.port}/`)
  await w.page.evaluate(() => { (document.getElementById('chat-name') as HTMLInputElement).value = 'x\u0001'.repeat(20) })
  await w.page.evaluate(() => document.getElementById('name-form')?.dispatchEvent(new Event('submit', { cancelable: true })))
  await w.page.waitForFunction(() => /^REFUSED 400/.test(document.querySelector('[data-badge="chat"]')?.textContent ?? ''))
  const urlOf = (l: Record<string, unknown>) => String(l.path)
  const upgrades = () => server.lines.filter((l) => l.msg === 'request' && urlOf(l).startsWith('/ws/hub')).length
  let markers = 0
  const flushLog = async () => {
    const url = `/config?marker=${++markers}`
    await fetch(`http://127.0.0.1:${server.port}${url}`)
    await waitFor(() => server.lines.some((l) => l.msg === 'request' && urlOf(l) === url), `the log line of ${url}`)
  }
  await flushLog()
  const attempts = upgrades()
  t.ok(attempts >= 2, `the upgrades so far were logged (${attempts})`)
  await w.page.waitForTimeout(1500) // proving an absence: a retry loop would show up as more upgrade requests
  await flushLog()
  t.equal(upgrades(), attempts, 'no further request to /ws/hub')
  t.equal(await w.page.isDisabled('#composer-input'), true)
  t.match(await w.page.textContent('#composer-hint'), /refused by the server \(400/)
})
