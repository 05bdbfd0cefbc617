/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { join } from 'node:path'
import t from 'tap'
import type { Page } from 'playwright-core'
import { waitFor } from '../helper.js'
import { startServer } from '../server-process.js'
import { launch, SCREENSHOTS } from './browser.js'

const XSS = '<img src=x onerror=alert(1)>'

async function joinAs (page: Page, name: string, room: string): Promise<void> {
  // the page joins the lobby once GET /config has answered, and that welcome fills in a guest name: wait for it,
  // or it may overwrite the name typed below
  await page.waitForFunction(() => (document.getElementById('chat-name') as HTMLInputElement).value !== '')
  await page.fill('#chat-name', name)
  await page.fill('#chat-room', room)
  await page.press('#chat-room', 'Enter') // keyboard: Enter submits the join form
  await page.waitForFunction((n) => document.querySelector('[data-badge="chat"]')?.textContent === 'OPEN' &&
    (document.getElementById('chat-name') as HTMLInputElement).value === n, name)
}

async function say (page: Page, text: string): Promise<void> {
  await page.fill('#chat-input', text)
  await page.press('#chat-input', 'Enter')
}

async function transcriptTexts (page: Page): Promise<string[]> {
  return await page.$$eval('#transcript li[data-seq] .text', (els) => els.map((e) => e.textContent ?? ''))
}

t.test('two pages chat; echo and time work; hostile text shows as text', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const server = await startServer(t)
  const url = `http://127.0.0.1:${server.port}/`
  const dialogs: string[] = []
  const errors: string[] = []
  const [ann, bob] = [await context.newPage(), await context.newPage()]
  for (const p of [ann, bob]) {
    p.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}) })
    p.on('pageerror', (e) => errors.push(e.message))
    await p.goto(url)
  }
  await joinAs(ann, 'Ann', 'e2e')
  t.equal(await ann.isVisible('#auth'), false, 'auth off (the default): no token field (GET /config was answered)')
  await joinAs(bob, XSS.slice(0, 32), 'e2e')
  await ann.waitForFunction(() => document.getElementById('member-count')?.textContent === '2')

  await say(ann, 'hello from Ann')
  await bob.waitForFunction(() => [...document.querySelectorAll('#transcript .text')].some((e) => e.textContent === 'hello from Ann'))
  await say(bob, XSS)
  await ann.waitForFunction((x) => [...document.querySelectorAll('#transcript .text')].some((e) => e.textContent === x), XSS)
  t.equal(await ann.$$eval('#transcript img, #members img', (els) => els.length), 0, 'no element was injected')
  t.ok((await ann.$$eval('#members li', (els) => els.map((e) => e.textContent))).includes(XSS.slice(0, 32)), 'hostile name shown as text')

  await ann.fill('#echo-input', 'echo me')
  await ann.press('#echo-input', 'Enter')
  await ann.waitForFunction(() => document.getElementById('echo-log')?.lastElementChild?.textContent === 'echo me')
  t.equal(await ann.textContent('[data-badge="echo"]'), 'OPEN')

  const first = Number(await ann.getAttribute('#time-now', 'data-epoch-ms'))
  await ann.waitForFunction((f) => Number(document.getElementById('time-now')?.dataset.epochMs) > f, first)
  await ann.waitForFunction(() => /ms$/.test(document.getElementById('time-rtt')?.textContent ?? ''))
  t.equal(await ann.textContent('[data-badge="time"]'), 'OPEN')
  await ann.setViewportSize({ width: 390, height: 844 })
  const overflow = await ann.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth)
  t.equal(overflow, false, 'no horizontal scrolling at phone width')
  await ann.setViewportSize({ width: 1100, height: 900 })
  await ann.screenshot({ path: join(SCREENSHOTS, 'page.png'), fullPage: true })
  t.same(dialogs, [], 'no script ran from user text')
  t.same(errors, [], 'no page errors')
})

t.test('server restart while a page keeps typing: reconnect, every message delivered once, no gaps', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const first = await startServer(t)
  const port = first.port
  const page = await context.newPage()
  await page.goto(`http://127.0.0.1:${port}/`)
  await joinAs(page, 'Typist', 'outage')
  await say(page, 'before')
  await page.waitForFunction(() => document.getElementById('outbox')?.textContent === '0' &&
    [...document.querySelectorAll('#transcript .text')].some((e) => e.textContent === 'before'))

  t.equal(await first.stop(), 0)
  await page.waitForFunction(() => /reconnecting in/.test(document.querySelector('[data-badge="chat"]')?.textContent ?? ''))
  const typed = ['during-1', 'during-2', 'during-3']
  for (const text of typed) await say(page, text)
  t.equal(await page.textContent('#outbox'), '3', 'typed during the outage: queued, not lost')
  await page.fill('#chat-name', 'Renamed') // edited, not joined yet
  await page.screenshot({ path: join(SCREENSHOTS, 'outage.png'), fullPage: true })

  const second = await startServer(t, { PORT: String(port) })
  // backoff may have grown while the server was down (up to 8-16 s between attempts on a loaded machine)
  await page.waitForFunction(() => document.getElementById('outbox')?.textContent === '0', undefined, { timeout: 60_000 })
  await page.waitForFunction(() => [...document.querySelectorAll('#transcript .text')].some((e) => e.textContent === 'during-3'))
  const texts = await transcriptTexts(page)
  t.same(texts, ['before', ...typed], 'each message exactly once, in order')
  t.equal(await page.inputValue('#chat-name'), 'Renamed', "the reconnect's welcome left the name being edited alone")
  t.ok((await page.$$eval('#members li', (els) => els.map((e) => e.textContent))).includes('Typist'), 'the room still knows the joined name')
  const seqs = await page.$$eval('#transcript li[data-seq]', (els) => els.map((e) => Number((e as HTMLElement).dataset.seq)))
  t.same(seqs.slice(1), [1, 2, 3], 'after the restart (new epoch) seq starts over with no holes')
  t.ok(await page.$('#transcript li.gap'), 'the restart is marked in the transcript')
  const history = await (await fetch(`http://127.0.0.1:${second.port}/rooms/outage/history`)).json() as { messages: Array<{ text: string }> }
  t.same(history.messages.map((m) => m.text), typed, 'the server holds each once')
  await page.screenshot({ path: join(SCREENSHOTS, 'after-restart.png'), fullPage: true })
})

t.test('a refused handshake (4xx) is not retried', async (t) => {
  const context = await launch(t)
  if (context === undefined) return
  const server = await startServer(t)
  const page = await context.newPage()
  await page.goto(`http://127.0.0.1:${server.port}/`)
  // the page connects once GET /config has answered: let that settle, or its first join races the one below
  await page.waitForFunction(() => ['echo', 'time', 'chat'].every((p) => document.querySelector(`[data-badge="${p}"]`)?.textContent === 'OPEN'))
  await page.fill('#chat-room', 'ok')
  await page.evaluate(() => { (document.getElementById('chat-room') as HTMLInputElement).value = 'bad room!' })
  await page.evaluate(() => document.getElementById('join-form')?.dispatchEvent(new Event('submit', { cancelable: true })))
  await page.waitForFunction(() => /^REFUSED 400/.test(document.querySelector('[data-badge="chat"]')?.textContent ?? ''))
  // count upgrade requests to the chat socket only: the page's other requests and sockets log lines of their own
  const urlOf = (l: Record<string, unknown>) => String(l.path)
  const chatUpgrades = () => server.lines.filter((l) => l.msg === 'request' && urlOf(l).startsWith('/ws/chat/')).length
  // a marker request: once its log line is in, every line the server wrote before it has come through the pipe
  let markers = 0
  const flushLog = async () => {
    const url = `/config?marker=${++markers}`
    await fetch(`http://127.0.0.1:${server.port}${url}`)
    await waitFor(() => server.lines.some((l) => l.msg === 'request' && urlOf(l) === url), `the log line of ${url}`)
  }
  await flushLog()
  const attempts = chatUpgrades()
  t.ok(attempts >= 2, `the chat upgrades so far were logged (${attempts})`)
  await page.waitForTimeout(1500) // proving an absence: a retry loop would show up as more upgrade requests
  await flushLog()
  t.equal(chatUpgrades(), attempts, 'no further request to the chat socket')
  t.match(await page.textContent('[data-badge="chat"]'), /REFUSED 400/)
})
